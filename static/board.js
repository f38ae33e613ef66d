// Progressive enhancement only: the board works without JavaScript.
(function () {
  "use strict";
  // Times arrive as the user's settings say: relative ("3 minutes ago", <time data-relative>) or in full, in
  // a named zone or, for the "browser" zone (<html data-zone>), in UTC, which is put in the browser's zone
  // here. Relative times are kept current between polls, counted as the server counts them (Babel's units
  // and its 0.85 threshold), so that a refresh does not change their wording.
  var UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400],
    ["hour", 3600], ["minute", 60], ["second", 1]];
  function pageLanguage() { return document.documentElement.lang || undefined; }
  function fullTime(d) {
    return d.toLocaleString(pageLanguage(), {
      year: "numeric", month: "short", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
  }
  function relativeText(d) {
    if (!window.Intl || !Intl.RelativeTimeFormat) return null;
    var seconds = (d.getTime() - Date.now()) / 1000;
    if (Math.abs(seconds) < 1) return null;
    for (var i = 0; i < UNITS.length; i++) {
      var value = Math.abs(seconds) / UNITS[i][1];
      if (value >= 0.85 || i === UNITS.length - 1) {
        var n = Math.max(1, Math.round(value)) * (seconds < 0 ? -1 : 1);
        return new Intl.RelativeTimeFormat(pageLanguage(), { numeric: "always", style: "short" }).format(n, UNITS[i][0]);
      }
    }
    return null;
  }
  function localTimes(root, refresh) {
    var browserZone = document.documentElement.getAttribute("data-zone") === "browser";
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      var relative = el.hasAttribute("data-relative");
      if (browserZone && relative) {
        el.title = fullTime(d);
      } else if (browserZone) {
        el.textContent = fullTime(d);
        el.title = el.getAttribute("datetime");
      }
      if (relative && refresh) {
        var text = relativeText(d);
        if (text) el.textContent = text;
      }
    });
  }
  setInterval(function () { localTimes(document, true); }, 15000);
  // Destructive forms ask first; a confirmed form tells the server so, which skips its confirmation page.
  // In a form of many buttons (a job table) the button pressed asks its own question; the confirmation of
  // an earlier press (the page kept by the back button) must not answer for this one.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.getAttribute) return;
    var submitter = event.submitter;
    var question = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    var earlier = form.querySelector("input[name=confirm][data-added]");
    if (earlier) earlier.remove();
    if (!question) return;
    if (!window.confirm(question)) { event.preventDefault(); return; }
    if (!form.querySelector("input[name=confirm]")) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = "confirm"; input.value = "1";
      input.setAttribute("data-added", "");
      form.appendChild(input);
    }
  }, true);
  // A job table's select-all box (shown only with JavaScript) checks every row of the page.
  function selectAll(root) {
    root.querySelectorAll("input.select-all").forEach(function (box) { box.hidden = false; });
  }
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.classList || !box.classList.contains("select-all") || !box.form) return;
    box.form.querySelectorAll("input[type=checkbox][name=ids]").forEach(function (row) { row.checked = box.checked; });
  });
  document.addEventListener("DOMContentLoaded", function () { selectAll(document); });
  document.addEventListener("htmx:afterSwap", function (event) { selectAll(event.target); });
  // A poll that fails leaves the old numbers on the page: say so, and since when, until a poll succeeds.
  var staleSince = null;
  function markStale(event) {
    var banner = document.getElementById("stale");
    if (!banner) return;
    var xhr = event.detail && event.detail.xhr;
    // The words come from the page, in its language.
    var cause = xhr && xhr.status === 503
      ? banner.getAttribute("data-redis") || "Redis is unavailable"
      : banner.getAttribute("data-unreachable") || "the board cannot be reached";
    if (!staleSince) staleSince = new Date();
    var said = banner.getAttribute("data-since") || "Not updated since %(time)s: %(cause)s. Retrying…";
    banner.textContent = said.replace("%(time)s", staleSince.toLocaleTimeString(pageLanguage())).replace("%(cause)s", cause);
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
    // A field marked data-poll-safe (the tree | text switch) is kept across the swap: it pauses nothing.
    var typing = active && region.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) &&
      !active.hasAttribute("data-poll-safe");
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
  document.addEventListener("DOMContentLoaded", function () { localTimes(document, false); });
  document.addEventListener("htmx:afterSwap", function (event) { markFresh(); localTimes(event.target, false); });
  // A poll answered 204 (what the page shows is still so) swaps nothing, but it did reach the board.
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.status === 204) markFresh();
  });
})();

// Navigation and overview: "/" focuses the queue filter, which narrows the sidebar and the overview's rows
// as one types (the filter's form still asks the server when submitted); a narrow screen folds the sidebar.
(function () {
  "use strict";
  var needle = "";
  function applyFilter() {
    document.querySelectorAll(".nav-queues li[data-q]").forEach(function (li) {
      var shown = !needle || li.getAttribute("data-q").toLowerCase().indexOf(needle) !== -1;
      if (shown) li.removeAttribute("data-filtered-out"); else li.setAttribute("data-filtered-out", "");
    });
    document.querySelectorAll("table.queues tr[data-queue]").forEach(function (row) {
      var label = row.querySelector("th > a");
      var text = (row.getAttribute("data-queue") + " " + (label ? label.textContent : "")).toLowerCase();
      if (!needle || text.indexOf(needle) !== -1) row.removeAttribute("data-filtered-out");
      else row.setAttribute("data-filtered-out", "");
    });
    document.querySelectorAll("details.group").forEach(function (group) {
      var any = group.querySelector("tr[data-queue]:not([data-filtered-out])");
      if (any || !needle) group.removeAttribute("data-filtered-out"); else group.setAttribute("data-filtered-out", "");
    });
  }
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.hasAttribute || !field.hasAttribute("data-queue-filter")) return;
    needle = field.value.trim().toLowerCase();
    document.querySelectorAll("[data-queue-filter]").forEach(function (other) {
      if (other !== field) other.value = field.value;
    });
    applyFilter();
  });
  function typing(el) {
    return el && (/^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) || el.isContentEditable);
  }
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || typing(document.activeElement)) return;
    var field = document.getElementById("filter") || document.getElementById("nav-filter");
    if (!field) return;
    var nav = document.getElementById("sidenav");
    if (field.id === "nav-filter" && nav) nav.open = true;
    event.preventDefault();
    field.focus();
    field.select();
  });
  // A poll brings the overview's rows back whole: filter them again.
  document.addEventListener("htmx:afterSwap", function () { if (needle) applyFilter(); });
  var narrow = window.matchMedia ? window.matchMedia("(max-width: 899px)") : null;
  function fold() {
    var nav = document.getElementById("sidenav");
    if (nav && narrow) nav.open = !narrow.matches;
  }
  document.addEventListener("DOMContentLoaded", fold);
  if (narrow && narrow.addEventListener) narrow.addEventListener("change", fold);
})();
// Job page: copy buttons, the logs filter, and the tree | text choice and the tree's folds kept across polls.
(function () {
  "use strict";
  function reveal(root) {
    root.querySelectorAll(".needs-js").forEach(function (el) { el.classList.remove("needs-js"); });
  }
  // A list copies as its shown lines, one a line (its text alone would run them together).
  function textOf(el) {
    if (el.tagName !== "OL" && el.tagName !== "UL") return el.textContent;
    return Array.prototype.filter.call(el.children, function (li) { return !li.hidden; })
      .map(function (li) { return li.textContent; }).join("\n");
  }
  function say(button, text) {
    if (!button.hasAttribute("data-label")) button.setAttribute("data-label", button.textContent);
    button.textContent = text;
    clearTimeout(button.copyTimer);
    button.copyTimer = setTimeout(function () { button.textContent = button.getAttribute("data-label"); }, 2000);
  }
  // Without the clipboard (plain HTTP, a permission denied) the text is selected, ready for Ctrl+C.
  function select(el) {
    var fold = el.closest("details");
    if (fold) fold.open = true;
    var section = el.closest(".payload");
    var textView = section && section.querySelector("input.view-text");
    if (textView && el.offsetParent === null) textView.checked = true;
    var range = document.createRange();
    range.selectNodeContents(el);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy-target]");
    if (!button) return;
    var el = document.getElementById(button.getAttribute("data-copy-target"));
    if (!el) return;
    function failed() { select(el); say(button, button.getAttribute("data-copy-failed") || "Selected"); }
    if (!navigator.clipboard || !window.isSecureContext) { failed(); return; }
    navigator.clipboard.writeText(textOf(el)).then(function () {
      say(button, button.getAttribute("data-copied") || "Copied");
    }, failed);
  });
  // The logs filter hides the lines of this page that do not hold the text; sending it asks the server.
  function filterList(field) {
    var list = document.getElementById(field.getAttribute("data-filter-list"));
    if (!list) return;
    var needle = field.value.trim().toLowerCase();
    var shown = 0;
    Array.prototype.forEach.call(list.children, function (li) {
      var hit = !needle || li.textContent.toLowerCase().indexOf(needle) !== -1;
      li.hidden = !hit;
      if (hit) shown += 1;
    });
    var count = field.form && field.form.querySelector("[data-filter-count]");
    if (!count) return;
    if (!count.hasAttribute("data-server-text")) count.setAttribute("data-server-text", count.textContent);
    count.textContent = needle && needle !== field.defaultValue.trim().toLowerCase()
      ? count.getAttribute("data-text").replace("{shown}", shown).replace("{total}", list.children.length)
      : count.getAttribute("data-server-text");
  }
  function filterAll(root) {
    root.querySelectorAll("input[data-filter-list]").forEach(function (field) { if (field.value) filterList(field); });
  }
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (field.hasAttribute && field.hasAttribute("data-filter-list")) filterList(field);
  });
  var kept = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || !target.querySelectorAll) return;
    kept = { views: {}, trees: {} };
    target.querySelectorAll(".payload > input[type=radio][id]").forEach(function (radio) {
      kept.views[radio.id] = radio.checked;
    });
    target.querySelectorAll(".json-tree[id]").forEach(function (tree) {
      kept.trees[tree.id] = Array.prototype.map.call(tree.querySelectorAll("details"), function (d) { return d.open; });
    });
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!kept) return;
    Object.keys(kept.views).forEach(function (id) {
      var radio = document.getElementById(id);
      if (radio && kept.views[id]) radio.checked = true;
    });
    Object.keys(kept.trees).forEach(function (id) {
      var tree = document.getElementById(id);
      var open = kept.trees[id];
      var folds = tree ? tree.querySelectorAll("details") : [];
      // A value that changed shape keeps the folds it came with.
      if (folds.length !== open.length) return;
      folds.forEach(function (d, i) { d.open = open[i]; });
    });
    kept = null;
  });
  document.addEventListener("DOMContentLoaded", function () { reveal(document); filterAll(document); });
  // After an outerHTML swap the event's target may be the element taken out: look at the whole page.
  document.addEventListener("htmx:afterSwap", function () { reveal(document); filterAll(document); });
})();
