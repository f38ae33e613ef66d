// Progressive enhancement only: the board works without JavaScript.
(function () {
  "use strict";
  // Times are sent in UTC; show them in the browser's time zone.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) {
        el.textContent = d.toLocaleString(undefined, {
          year: "numeric", month: "short", day: "2-digit",
          hour: "2-digit", minute: "2-digit", second: "2-digit",
        });
        el.title = el.getAttribute("datetime");
      }
    });
  }
  // Destructive forms ask first; a confirmed form tells the server so, which skips its confirmation page.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (!question) return;
    if (!window.confirm(question)) { event.preventDefault(); return; }
    if (!form.querySelector("input[name=confirm]")) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = "confirm"; input.value = "1";
      form.appendChild(input);
    }
  }, true);
  // A poll that fails leaves the old numbers on the page: say so, and since when, until a poll succeeds.
  var staleSince = null;
  function markStale(event) {
    var banner = document.getElementById("stale");
    if (!banner) return;
    var xhr = event.detail && event.detail.xhr;
    var cause = xhr && xhr.status === 503 ? "Redis is unavailable" : "the board cannot be reached";
    if (!staleSince) staleSince = new Date();
    banner.textContent = "Not updated since " + staleSince.toLocaleTimeString() + ": " + cause + ". Retrying…";
    banner.hidden = false;
    document.body.classList.add("is-stale");
  }
  function markFresh() {
    var banner = document.getElementById("stale");
    staleSince = null;
    if (banner) banner.hidden = true;
    document.body.classList.remove("is-stale");
  }
  // A poll replaces the whole live region: not while the user is filling one of its forms or has one of
  // its menus open (what they typed, or the open menu, would be lost); the polls after that go ahead.
  function changed(field) {
    if (field.type === "hidden" || field.type === "submit") return false;
    if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
    if (field.tagName === "SELECT") {
      return Array.prototype.some.call(field.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    return field.value !== field.defaultValue;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var region = event.detail && event.detail.elt;
    if (!region || region.id !== "live") return;
    var active = document.activeElement;
    var typing = active && region.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
    var fields = region.querySelectorAll("form input, form textarea, form select");
    var filled = Array.prototype.some.call(fields, changed);
    if (typing || filled || region.querySelector("details.inline-form[open]")) event.preventDefault();
  });
  // Folded payloads and stack traces stay as the user left them across polls.
  var openIds = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target) return;
    openIds = {};
    target.querySelectorAll("details[id]").forEach(function (el) { openIds[el.id] = el.open; });
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!openIds) return;
    Object.keys(openIds).forEach(function (id) {
      var el = document.getElementById(id);
      if (el && el.tagName === "DETAILS") el.open = openIds[id];
    });
    openIds = null;
  });
  document.addEventListener("htmx:responseError", markStale);
  document.addEventListener("htmx:sendError", markStale);
  document.addEventListener("htmx:timeout", markStale);
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  document.addEventListener("htmx:afterSwap", function (event) { markFresh(); localTimes(event.target); });
})();
