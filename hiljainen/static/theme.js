// A theme's weekly notes, with burst weeks marked (data from the page's JSON block; CSP-safe).
(function () {
  "use strict";
  var node = document.getElementById("theme-data");
  var canvas = document.getElementById("chart-theme");
  if (!node || !canvas || typeof Chart === "undefined") { return; }
  var d = JSON.parse(node.textContent);
  new Chart(canvas, {
    type: "bar",
    data: { labels: d.weeks, datasets: [
      { label: "notes", data: d.counts,
        backgroundColor: d.bursts.map(function (b) { return b ? "#b6416b" : "#1f6f5c"; }) },
      { label: "reporters", data: d.reporters, type: "line", borderColor: "#d98e04", backgroundColor: "#d98e04" }
    ] },
    options: { maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
})();
