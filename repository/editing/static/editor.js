/* The record editor: CodeMirror over the XML text area (line numbers, highlighting), problems
   marked at their lines, and rows added to the names table. Without JavaScript the page is a
   plain form that works the same. */
(function () {
  "use strict";
  function init() {
    var area = document.getElementById("xml");
    if (!area || typeof CodeMirror === "undefined") return;
    var cm = CodeMirror.fromTextArea(area, {
      mode: "application/xml",
      lineNumbers: true,
      lineWrapping: true,
      styleActiveLine: true,
      indentUnit: 2,
      viewportMargin: Infinity
    });
    area.editor = cm;
    var lines = (area.getAttribute("data-problem-lines") || "").split(",").filter(Boolean);
    lines.forEach(function (n) {
      var line = parseInt(n, 10) - 1;
      if (line >= 0 && line < cm.lineCount()) {
        cm.addLineClass(line, "background", "problem-line");
        cm.addLineClass(line, "gutter", "problem-gutter");
      }
    });
    document.querySelectorAll(".problems a.line").forEach(function (a) {
      a.addEventListener("click", function (event) {
        event.preventDefault();
        var line = parseInt(a.getAttribute("data-line"), 10) - 1;
        cm.focus();
        cm.setCursor({ line: line, ch: 0 });
        cm.scrollIntoView({ line: line, ch: 0 }, 100);
      });
    });
    if (lines.length) cm.scrollIntoView({ line: parseInt(lines[0], 10) - 1, ch: 0 }, 100);
    document.querySelectorAll("button.add-row").forEach(function (button) {
      var body = document.querySelector("#" + button.getAttribute("data-table") + " tbody");
      button.hidden = false;
      button.addEventListener("click", function () {
        var last = body.rows[body.rows.length - 1];
        var row = last.cloneNode(true);
        row.querySelectorAll("input").forEach(function (i) { i.value = ""; });
        row.querySelectorAll("select").forEach(function (s) { s.selectedIndex = 0; });
        // each field is named by its row ("Name 6"), as the server numbers the rows it writes
        row.querySelectorAll("[aria-label]").forEach(function (el) {
          el.setAttribute("aria-label", el.getAttribute("aria-label").replace(/\d+$/, body.rows.length + 1));
        });
        body.appendChild(row);
        row.querySelector("input").focus();
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
