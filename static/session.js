// The expiry notice. Every page of a realm asks /session/status (which never extends a
// session) and, shortly before the idle expiry, shows a notice with a button that extends the
// session by a real request. Every open tab of the realm polls, so all of them see the same
// state; once the session has ended the tab goes to the sign-in page.
(function () {
  "use strict";
  var body = document.body;
  var realm = body.getAttribute("data-realm");
  if (!realm) return;
  var login = body.getAttribute("data-login");
  var home = body.getAttribute("data-home");
  var notice = document.getElementById("expiry-notice");
  var text = document.getElementById("expiry-text");
  var live = document.getElementById("expiry-live");
  var button = document.getElementById("expiry-extend");
  var WARN_SECONDS = 120;
  var timer = null;

  function schedule(seconds) {
    clearTimeout(timer);
    timer = setTimeout(check, Math.max(1, seconds) * 1000);
  }

  function show(seconds) {
    var minutes = Math.max(1, Math.ceil(seconds / 60));
    var words = "Your session will expire in " + minutes + (minutes === 1 ? " minute." : " minutes.");
    // The live region is always in the page (a hidden one may not be heard when it appears)
    // and speaks when its text changes: only a new minute is news.
    if (text.textContent !== words) text.textContent = words;
    if (live && live.textContent !== words) live.textContent = words;
    notice.hidden = false;
  }

  function check() {
    fetch("/session/status", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (status) {
        var s = status[realm];
        if (!s || !s.signed_in) {
          window.location.assign(login + "?next=" + encodeURIComponent(window.location.pathname + window.location.search));
          return;
        }
        var left = Math.min(s.idle_expires_in, s.absolute_expires_in);
        if (left <= WARN_SECONDS) {
          show(left);
          schedule(Math.min(15, left));
        } else {
          notice.hidden = true;
          if (live) live.textContent = "";
          schedule(Math.min(60, left - WARN_SECONDS));
        }
      })
      .catch(function () { schedule(30); });
  }

  button.addEventListener("click", function () {
    // A real request to a page of this realm is activity; the status call alone is not.
    fetch(home, { credentials: "same-origin", cache: "no-store" }).then(check, check);
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) check();
  });
  check();
})();
