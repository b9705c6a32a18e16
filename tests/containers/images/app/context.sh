# Sourced by tests/containers.sh with $here (the repository) and $ctx (the build context):
# the app itself, and the venv's kafka-python (3.x, pure Python: Debian's python3-kafka is
# 2.0.2, which lacks options ch11-app uses) for the image's python3.11.
cp -aL "$here/examples/ch11/services/ch11-app" "$ctx/"
kafka=$("$here/.venv/bin/python" -c 'import kafka, os; print(os.path.dirname(kafka.__file__))')
cp -a "$kafka" "$ctx/kafka"
rm -rf "$ctx/kafka/__pycache__" "$ctx"/kafka/*/__pycache__
