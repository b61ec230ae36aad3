"""Drive one notebook in JupyterLab through Playwright, the way a learner would.

Clicks go through the real UI (the Run menu, the widgets' own controls); the state the test checks
(kernel status, execution counts, output types) is read from JupyterLab's models through
`window.jupyterapp` (the server runs with expose_app_in_browser), so a wait ends on the event itself,
not on a guess about the DOM.
"""
from __future__ import annotations

import time
from pathlib import Path

# The notebook panel of `path` in the main area, or null.
_PANEL = """(path) => {
  const app = window.jupyterapp;
  if (!app) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.content.widgets) return w;
  }
  return null;
}"""

KERNEL_STATE = f"""(path) => {{
  const panel = ({_PANEL})(path);
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return kernel ? kernel.connectionStatus + '/' + kernel.status : 'no kernel';
}}"""

# Record every error the kernel reports, whatever ran: a cell, or a widget's callback (whose
# traceback JupyterLab sends to its log console, not to the notebook).
HOOK_ERRORS = f"""(path) => {{
  const panel = ({_PANEL})(path);
  const kernel = panel.sessionContext.session.kernel;
  window.gpteduKernelErrors = window.gpteduKernelErrors || [];
  if (!kernel.gpteduHooked) {{
    kernel.iopubMessage.connect((_, msg) => {{
      if (msg.header.msg_type === 'error') {{
        const c = msg.content;
        const tb = (c.traceback || []).join('\\n').replace(/\\u001b\\[[0-9;]*m/g, '');
        window.gpteduKernelErrors.push(c.ename + ': ' + c.evalue + '\\n' + tb.slice(-1500));
      }}
    }});
    kernel.gpteduHooked = true;
  }}
}}"""

# For each code cell: its execution count, whether it is queued or running, and its outputs in short.
CELLS = f"""(path) => {{
  const panel = ({_PANEL})(path);
  if (!panel) return null;
  const cells = [];
  panel.content.widgets.forEach((cell, index) => {{
    if (cell.model.type !== 'code' || !cell.model.sharedModel.getSource().trim()) return;  // Run All skips empty cells
    const outputs = [];
    for (let k = 0; k < cell.model.outputs.length; k++) {{
      const o = cell.model.outputs.get(k).toJSON();
      const text = o.output_type === 'error' ? o.ename + ': ' + o.evalue
                 : o.output_type === 'stream' ? [].concat(o.text).join('') : '';
      outputs.push({{type: o.output_type, name: o.name || null, text: text.slice(0, 500),
                     mimes: Object.keys(o.data || {{}})}});
    }}
    const prompt = cell.node.querySelector('.jp-InputArea-prompt');
    cells.push({{index: index, count: cell.model.executionCount,
                 pending: prompt ? prompt.textContent.includes('*') : false,
                 source: cell.model.sharedModel.getSource().split('\\n')[0].slice(0, 80), outputs: outputs}});
  }});
  return cells;
}}"""

# Window height that shows the whole notebook without scrolling: the bottom of its last cell
# (as if scrolled to the top) plus what sits below the notebook (the status bar).
FULL_HEIGHT = f"""(path) => {{
  const panel = ({_PANEL})(path);
  const scroller = panel && (panel.content.node.querySelector('.jp-WindowedPanel-outer') || panel.content.node);
  const cells = panel ? panel.content.widgets : [];
  if (!scroller || !cells.length) return window.innerHeight;
  const last = cells[cells.length - 1].node.getBoundingClientRect();
  const below = window.innerHeight - scroller.getBoundingClientRect().bottom;
  return Math.ceil(last.bottom + scroller.scrollTop + 24 + below);
}}"""

SCROLL_TOP = f"""(path) => {{
  const panel = ({_PANEL})(path);
  const scroller = panel && (panel.content.node.querySelector('.jp-WindowedPanel-outer') || panel.content.node);
  if (scroller) scroller.scrollTop = 0;
}}"""


class Timeout(AssertionError):
    pass


def wait_until(predicate, timeout: float, what: str, interval: float = 0.25):
    """Poll `predicate()` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class NotebookPage:
    def __init__(self, page, path: str):
        self.page, self.path = page, path

    def kernel_state(self) -> str:
        return self.page.evaluate(KERNEL_STATE, self.path)

    def cells(self) -> list[dict]:
        return self.page.evaluate(CELLS, self.path) or []

    def wait_open(self, timeout: float) -> None:
        wait_until(lambda: self.page.evaluate(f"(p) => !!({_PANEL})(p)", self.path), timeout,
                   f"JupyterLab to open {self.path}")
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
        self.page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # room for the notebook

    def wait_kernel_idle(self, timeout: float) -> None:
        wait_until(lambda: self.kernel_state() == "connected/idle", timeout,
                   f"the kernel of {self.path} to be connected and idle (last: {self.kernel_state()})")

    def watch_kernel_errors(self) -> None:
        self.page.evaluate(HOOK_ERRORS, self.path)

    def kernel_errors(self) -> list[str]:
        """Errors the kernel reported since watch_kernel_errors() (cells and widget callbacks alike)."""
        return self.page.evaluate("() => window.gpteduKernelErrors || []")

    def run_all(self) -> None:
        """Run > Run All Cells, from the menu bar."""
        self.page.get_by_role("menuitem", name="Run", exact=True).click()
        self.page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    def wait_run_done(self, timeout: float) -> list[dict]:
        """Wait until every code cell has run (or one failed: Run All stops there) and the kernel is idle."""
        def done():
            cells = self.cells()
            started = any(c["count"] is not None or c["pending"] for c in cells)
            failed = any(o["type"] == "error" for c in cells for o in c["outputs"])
            finished = all(c["count"] is not None for c in cells) or failed
            if started and finished and not any(c["pending"] for c in cells) \
                    and self.kernel_state() == "connected/idle":
                return cells
            return None

        def progress():
            cells = self.cells()
            ran = sum(c["count"] is not None for c in cells)
            return f"{ran}/{len(cells)} code cells ran, kernel {self.kernel_state()}"

        try:
            return wait_until(done, timeout, f"Run All in {self.path}", interval=0.5)
        except Timeout as error:
            raise Timeout(f"{error} ({progress()})") from None

    def screenshot(self, path: Path, max_height: int = 12000) -> Path:
        """The whole notebook in one picture: grow the window to the notebook's height, then shoot."""
        size = self.page.viewport_size
        height = min(max_height, max(size["height"], int(self.page.evaluate(FULL_HEIGHT, self.path))))
        self.page.set_viewport_size({"width": size["width"], "height": height})
        self.page.evaluate(SCROLL_TOP, self.path)
        self.page.wait_for_timeout(500)  # let JupyterLab lay out the taller window
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        return path
