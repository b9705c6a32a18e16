"""``faultbox report RESULTS.json... -o report.html``: result files as one HTML report."""

from __future__ import annotations

import click

from faultbox.report import html as html_report
from faultbox.report.merge import MergeError, merge_files

from ._common import check_output_paths, die


@click.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
    help="The HTML file to write.",
)  # fmt: skip
def command(results: tuple[str, ...], output: str) -> None:
    """Render result files (--output JSON) as one self-contained HTML report.

    Several files (the shards of one run) are merged first; files of different specs or
    faultbox versions, or with a test in two files, are refused (exit 1).
    """
    check_output_paths(output)
    try:
        doc = merge_files(list(results))
    except MergeError as exc:
        die(str(exc))
    try:
        html_report.write_html(doc, output, sources=results)
    except OSError as exc:
        die(f"cannot write {output}: {exc}")
    n = len(doc["tests"])
    click.echo(f"wrote {output}: {n} test{'s' if n != 1 else ''} from {len(results)} "
               f"result file{'s' if len(results) != 1 else ''}", err=True)  # fmt: skip
