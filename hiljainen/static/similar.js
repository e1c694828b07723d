// As-you-type suggestions under a note form: after a short pause, show the most similar recent
// notes and let the writer join one ("this is what I mean too") instead of sending a duplicate.
// Everything from the server is inserted as text (textContent), never as HTML.
(function () {
  "use strict";
  var PAUSE_MS = 700;
  var MIN_CHARS = 15;

  function init() {
    var box = document.getElementById("similar");
    var field = document.getElementById("text");
    if (!box || !field || !box.dataset.url || !window.fetch) { return; }
    var form = field.form;
    var tokenInput = form ? form.querySelector("input[name=csrf_token]") : null;
    var token = tokenInput ? tokenInput.value : "";
    var timer = null;
    var controller = null;
    var lastSent = "";
    var dayFormat = null;
    try {
      // The page's language, as the `day` filter writes dates elsewhere: 8.11.2026, Nov 8, 2026.
      dayFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined,
        { dateStyle: "medium", timeZone: "UTC" });
    } catch (e) { dayFormat = null; }

    function day(iso) {
      // The server sends a calendar day (2026-11-08): read it as such, not as a moment in a zone.
      var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
      if (!m || !dayFormat) { return iso || ""; }
      return dayFormat.format(new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])));
    }

    function post(url, body) {
      return fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token, "Accept": "application/json" },
        body: JSON.stringify(body)
      });
    }

    function role() {
      var checked = form ? form.querySelector("input[name=role]:checked") : null;
      return checked ? checked.value : "";
    }

    function clear() {
      while (box.firstChild) { box.removeChild(box.firstChild); }
    }

    function el(tag, className, text) {
      var node = document.createElement(tag);
      if (className) { node.className = className; }
      if (text !== undefined) { node.textContent = text; }
      return node;
    }

    function render(items) {
      clear();
      if (!items.length) { return; }
      var section = el("section", "card similar-box");
      section.appendChild(el("h2", "", box.dataset.title));
      section.appendChild(el("p", "muted", box.dataset.hint));
      var list = el("ul", "notes");
      items.forEach(function (item) {
        var li = el("li", "similar-item");
        li.appendChild(el("blockquote", "", item.text));
        var meta = el("p", "meta", day(item.day) + (item.voices ? " · " + box.dataset.others + " " + item.voices : ""));
        li.appendChild(meta);
        var button = el("button", "", box.dataset.join);
        button.type = "button";
        button.addEventListener("click", function () { join(item, button, li); });
        li.appendChild(button);
        list.appendChild(li);
      });
      section.appendChild(list);
      box.appendChild(section);
    }

    function join(item, button, li) {
      button.disabled = true;
      var body = { touchpoint: box.dataset.touchpoint || "", role: role() };
      post(item.me_too_url, body)
        .then(function (resp) { return resp.json().then(function (data) { return { ok: resp.ok, data: data }; }); })
        .then(function (res) {
          var text = res.data.message || res.data.error || box.dataset.failed;
          var note = el("p", res.ok ? "joined" : "error", text);
          note.setAttribute("role", "status");
          li.replaceChild(note, button);
        })
        .catch(function () {
          button.disabled = false;
          li.appendChild(el("p", "error", box.dataset.failed));
        });
    }

    function lookup() {
      var text = field.value.trim();
      if (text.length < MIN_CHARS) { lastSent = ""; clear(); return; }
      if (text === lastSent) { return; }
      lastSent = text;
      if (controller) { controller.abort(); }
      controller = window.AbortController ? new AbortController() : null;
      var body = { text: text, touchpoint: box.dataset.touchpoint || "" };
      fetch(box.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token, "Accept": "application/json" },
        body: JSON.stringify(body),
        signal: controller ? controller.signal : undefined
      })
        .then(function (resp) { return resp.ok ? resp.json() : { items: [] }; })
        .then(function (data) { render(data.items || []); })
        .catch(function () { /* a suggestion is a help only: stay quiet on errors */ });
    }

    field.addEventListener("input", function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(lookup, PAUSE_MS);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
