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
  document.addEventListener("htmx:responseError", markStale);
  document.addEventListener("htmx:sendError", markStale);
  document.addEventListener("htmx:timeout", markStale);
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  document.addEventListener("htmx:afterSwap", function (event) { markFresh(); localTimes(event.target); });
})();
