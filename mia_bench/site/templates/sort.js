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
