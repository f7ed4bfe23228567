"""A small Sphinx extension with the book's fixes to the HTML that Jupyter Book 1 writes.

Loaded through ``sphinx: local_extensions`` in ``_config.yml``.

- sphinx-thebe 0.3.1 adds its inline configuration script (``const THEBE_JS_URL = ...``) to every page
  twice, so each page logs "Identifier 'THEBE_JS_URL' has already been declared" to the browser console
  (tests/test_site.py checks that no page logs an error). sphinx-togglebutton's selector script is
  repeated the same way. Inline scripts with the same text, and files with the same name and attributes,
  are kept once.
"""

from __future__ import annotations


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for script in scripts:
        # An inline script's filename is None in one copy and "" in the other.
        key = (
            getattr(script, "filename", script) or "",
            tuple(sorted(getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    # Last, after every extension that adds scripts while the page is written.
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
