// Click a header to sort its table by that column (numbers by data-v, text otherwise); again to reverse.
document.querySelectorAll("table.sortable-table").forEach(function (table) {
  table.querySelectorAll("th.sortable").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
      var num = th.dataset.type === "num";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var value = function (row) {
        var cell = row.cells[col];
        if (!cell) return num ? -Infinity : "";
        return num ? parseFloat(cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent) : cell.textContent.trim().toLowerCase();
      };
      rows.sort(function (a, b) {
        var x = value(a), y = value(b);
        var c = num ? x - y : (x < y ? -1 : x > y ? 1 : 0);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});

// The compare view: two rows' numbers side by side and their ROC curves overlaid, from the inline JSON.
(function () {
  var el = document.getElementById("compare-data");
  if (!el) return;
  var rows = JSON.parse(el.textContent), data = {};
  var a = document.getElementById("cmp-a"), b = document.getElementById("cmp-b");
  rows.forEach(function (r) {
    data[r.key] = r;
    [a, b].forEach(function (s) { var o = document.createElement("option"); o.value = r.key; o.textContent = r.label; s.appendChild(o); });
  });
  // Defaults: the two best rows that have results (the table lists attacks by AUC, best first).
  var ok = rows.map(function (r, i) { return r.roc ? i : -1; }).filter(function (i) { return i >= 0; });
  if (ok.length > 0) a.selectedIndex = ok[0];
  if (ok.length > 1) b.selectedIndex = ok[1]; else if (rows.length > 1) b.selectedIndex = 1;
  var fields = [["AUC", "auc"], ["TPR@1%", "tpr_1"], ["realised FPR (1%)", "fpr_at_0.01"], ["TPR@0.1%", "tpr_01"],
    ["realised FPR (0.1%)", "fpr_at_0.001"], ["accuracy", "acc"], ["Δ blind", "margin_blind"], ["Δ null", "margin_null"],
    ["s/query", "seconds_per_query"], ["wall s", "wall_seconds"], ["queries", "queries"], ["shadows", "shadows"]];
  var f = function (x) { return x === null || x === undefined ? "n/r" : (typeof x === "number" ? +x.toPrecision(4) : String(x)); };
  // SVG markup through innerHTML: the HTML parser puts it in the SVG namespace, no namespace URL needed.
  function polyline(pts, lo, color) {
    var W = 380, H = 300, P = 36;
    var x = function (v) { return (P + (W - 2 * P) * (Math.log10(v) - lo) / -lo).toFixed(1); };
    var y = function (v) { return (H - P - (H - 2 * P) * (Math.log10(Math.max(v, Math.pow(10, lo))) - lo) / -lo).toFixed(1); };
    return '<polyline fill="none" stroke-width="2" stroke="' + color + '" points="' +
      pts.map(function (p) { return x(p[0]) + "," + y(p[1]); }).join(" ") + '"/>';
  }
  function label(x, y, color, text) {
    return '<text font-size="11" x="' + x + '" y="' + y + '" fill="' + color + '">' + text + "</text>";
  }
  function draw() {
    var A = data[a.value], B = data[b.value];
    document.getElementById("cmp-ha").textContent = "A: " + A.label;
    document.getElementById("cmp-hb").textContent = "B: " + B.label;
    var body = document.querySelector("#compare-out tbody");
    body.innerHTML = "";
    fields.forEach(function (fd) {
      var tr = document.createElement("tr"), va = A[fd[1]], vb = B[fd[1]];
      var d = (typeof va === "number" && typeof vb === "number") ? va - vb : null;
      [fd[0], f(va), f(vb), d === null ? "" : (d > 0 ? "+" : "") + f(d)].forEach(function (t) {
        var td = document.createElement("td"); td.textContent = t; tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    ["sent", "biometric", "kind"].forEach(function (k) {
      var tr = document.createElement("tr");
      [k, f(A[k]), f(B[k]), ""].forEach(function (t) { var td = document.createElement("td"); td.textContent = t; tr.appendChild(td); });
      body.appendChild(tr);
    });
    var svg = document.getElementById("cmp-roc"), parts = [];
    if (A.roc && B.roc) {
      var lo = Math.log10(Math.min(A.roc[0][0], B.roc[0][0]));
      var pad = function (r) { return [[Math.pow(10, lo), r[0][1]]].concat(r); };
      parts.push(polyline([[Math.pow(10, lo), Math.pow(10, lo)], [1, 1]], lo, "#999"));
      parts.push(polyline(pad(A.roc), lo, "#c0392b"), polyline(pad(B.roc), lo, "#2471a3"));
      parts.push(label(44, 20, "#c0392b", "A"), label(44, 36, "#2471a3", "B"),
                 label(60, 296, "#333", "log FPR (x) vs log TPR (y); grey: chance"));
    }
    svg.innerHTML = parts.join("");
  }
  a.addEventListener("change", draw); b.addEventListener("change", draw);
  draw();
})();
