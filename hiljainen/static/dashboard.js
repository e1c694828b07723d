// Draws the dashboard's charts from the JSON the page carries (no inline script: CSP). The
// weak-signal map is drawn on the server (templates/dashboard/_signal_map.html): its bubbles are links.
(function () {
  "use strict";
  var node = document.getElementById("dashboard-data");
  if (!node || typeof Chart === "undefined") { return; }
  var data = JSON.parse(node.textContent);
  var labelNode = document.getElementById("chart-labels");
  var L = labelNode ? JSON.parse(labelNode.textContent) : {};
  function say(key) { return L[key] || key; }
  var palette = ["#1f6f5c", "#d98e04", "#3b6cc4", "#b6416b", "#6a4fb3", "#5b8c2a", "#8a5a44", "#2b9aa0"];
  Chart.defaults.font.family = "system-ui, sans-serif";
  Chart.defaults.maintainAspectRatio = false;
  var weeks = data.weeks.map(function (w) { return say("week") + " " + Number(w.slice(6)); });

  // Series keyed by a source, tone or signal are named in the interface language; themes by their own name.
  function series(obj, type, stacked, fill, ownNames) {
    return Object.keys(obj).map(function (name, i) {
      return { label: ownNames ? name : say(name), data: obj[name], backgroundColor: palette[i % palette.length],
               borderColor: palette[i % palette.length], fill: fill, tension: 0.3, type: type };
    });
  }
  function draw(id, config) {
    var canvas = document.getElementById("chart-" + id);
    if (canvas) { new Chart(canvas, config); }
  }
  var stackedScales = { x: { stacked: true }, y: { stacked: true, beginAtZero: true } };

  draw("notes_by_source", { type: "bar", data: { labels: weeks, datasets: series(data.notes_by_source, "bar") },
    options: { scales: stackedScales } });
  draw("tone", { type: "bar", data: { labels: weeks, datasets: series(data.tone, "bar") },
    options: { scales: stackedScales } });
  draw("topic_stream", { type: "line", data: { labels: weeks, datasets: series(data.topic_stream || {}, "line", true, true, true) },
    options: { scales: stackedScales, plugins: { legend: { position: "bottom" } } } });

  // A hidden week (null) is a gap in the lines, not a line drawn across it.
  var r = data.response;
  function pct(values) { return values.map(function (v) { return v === null ? null : Math.round(v * 100); }); }
  draw("response", { type: "line", data: { labels: weeks, datasets: [
      { label: say("acknowledged"), data: pct(r.acknowledged_in_time), borderColor: palette[0], backgroundColor: palette[0], spanGaps: false },
      { label: say("closed"), data: pct(r.closed_with_action), borderColor: palette[1], backgroundColor: palette[1], spanGaps: false },
      { label: say("you_said"), data: r.you_said_we_did, type: "bar", backgroundColor: "rgba(59,108,196,.35)", yAxisID: "count" }
    ] },
    options: { scales: { y: { min: 0, max: 100 }, count: { position: "right", beginAtZero: true, grid: { display: false } } } } });

  var select = document.getElementById("scope-select");
  if (select) { select.addEventListener("change", function () { select.form.submit(); }); }
})();
