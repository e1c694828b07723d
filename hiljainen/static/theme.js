// A theme's weekly notes, with burst weeks marked (data from the page's JSON block; CSP-safe).
(function () {
  "use strict";
  var node = document.getElementById("theme-data");
  var canvas = document.getElementById("chart-theme");
  if (!node || !canvas || typeof Chart === "undefined") { return; }
  var d = JSON.parse(node.textContent);
  var labelNode = document.getElementById("chart-labels");
  var L = labelNode ? JSON.parse(labelNode.textContent) : {};
  // Burst weeks are a series of their own, so the legend explains their colour.
  function weeks(burst) {
    return d.counts.map(function (n, i) { return d.bursts[i] === burst ? n : null; });
  }
  new Chart(canvas, {
    type: "bar",
    data: { labels: d.weeks.map(function (w) { return (L.week || "wk") + " " + Number(w.slice(1)); }), datasets: [
      { label: L.notes || "notes", data: weeks(false), backgroundColor: "#1f6f5c", stack: "notes" },
      { label: L.burst_notes || "notes in weeks when the theme suddenly grew", data: weeks(true), backgroundColor: "#b6416b", stack: "notes" },
      { label: L.reporters || "reporters", data: d.reporters, type: "line", borderColor: "#d98e04", backgroundColor: "#d98e04" }
    ] },
    options: { maintainAspectRatio: false,
               scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
  });
})();
