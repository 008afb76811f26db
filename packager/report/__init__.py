"""The bundle's report (report.md, report.html, report-plots/): a reader of the manifest and of
the device results kept beside it, below the CLI and beside the build (which renders it when it
writes a bundle).

- `content`: what the report says (sections of facts, tables and figures) from a `Manifest`;
  `render_all` renders it, `build_document` / `write_figures` are its two halves;
- `document`: the document model (`Document`, `Section`, `Table`, ...) and its Markdown and HTML;
- `plots`: the figures, drawn with matplotlib (imported lazily), as PNG bytes;
- `device`: device results kept in <bundle>/device/ and read back as `DeviceResults`;
- `regenerate`: `packager report DIST`, merging device results files and rewriting the reports.
"""

from packager.report.content import HEADERS, MS, PLOTS_FOLDER, REPORT_FILES, US, build_document, render_all, short_op_name, variant_rows, write_figures
from packager.report.regenerate import Regenerated, regenerate

__all__ = ["HEADERS", "MS", "PLOTS_FOLDER", "REPORT_FILES", "US", "Regenerated", "build_document", "regenerate", "render_all",
           "short_op_name", "variant_rows", "write_figures"]
