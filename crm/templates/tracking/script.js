/* CRM tracking code. Records page views of this site for a first-party
   visitor id. Nothing is sent when the browser asks not to be tracked or the
   site says the visitor has not consented (window.crmConsent = false, or
   data-consent="false" on this script tag). Talks only to the CRM that
   served it. */
(function () {
  "use strict";

  var settings = {{ settings }};
  var w = window;
  var d = document;
  var n = navigator;
  var tag = d.currentScript;
  var COOKIE = "crm_vid";
  var YEAR = 365 * 24 * 3600;

  function declined() {
    return n.doNotTrack === "1" || n.doNotTrack === "yes" || w.doNotTrack === "1" ||
      n.msDoNotTrack === "1" || n.globalPrivacyControl === true;
  }

  function consented() {
    if (w.crmConsent === false) {
      return false;
    }
    return !(tag && tag.getAttribute("data-consent") === "false");
  }

  function randomId() {
    var bytes = new Uint8Array(18);
    w.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function readCookie() {
    var match = d.cookie.match(/(?:^|;\s*)crm_vid=([A-Za-z0-9_-]{16,64})/);
    return match ? match[1] : null;
  }

  function stored() {
    try {
      return w.localStorage.getItem(COOKIE);
    } catch (error) {
      return null;
    }
  }

  function keep(id) {
    var secure = w.location.protocol === "https:" ? "; Secure" : "";
    d.cookie = COOKIE + "=" + id + "; Max-Age=" + (2 * YEAR) + "; Path=/; SameSite=Lax" + secure;
    try {
      w.localStorage.setItem(COOKIE, id);
    } catch (error) {
      /* storage refused: the cookie alone keeps the id */
    }
  }

  function takeIdentity() {
    var url = new URL(w.location.href);
    var token = url.searchParams.get(settings.param);
    if (!token) {
      return null;
    }
    url.searchParams.delete(settings.param);
    if (w.history && w.history.replaceState) {
      w.history.replaceState(w.history.state, "", url.toString());
    }
    return token;
  }

  function send(data) {
    var body = JSON.stringify(data);
    if (n.sendBeacon && n.sendBeacon(settings.collect, body)) {
      return;
    }
    if (w.fetch) {
      w.fetch(settings.collect, {
        method: "POST",
        body: body,
        mode: "cors",
        credentials: "omit",
        keepalive: true,
        headers: { "Content-Type": "text/plain" }
      }).catch(function () { /* the view is lost, the page is not */ });
    }
  }

  // Forms embedded on the page wait for this (the tag is often async).
  function announce(id) {
    w.crmVisitorId = id;
    d.dispatchEvent(new CustomEvent("crm:visitor", { detail: id }));
  }

  if (declined() || !consented()) {
    announce(null);
    return;
  }

  var visitor = readCookie() || stored();
  if (!visitor || !/^[A-Za-z0-9_-]{16,64}$/.test(visitor)) {
    visitor = randomId();
  }
  keep(visitor);
  announce(visitor);

  var view = randomId();
  var identity = takeIdentity();
  var shownAt = Date.now();
  var left = false;
  var message = {
    e: "view",
    k: settings.key,
    v: visitor,
    p: view,
    u: w.location.href,
    t: d.title,
    r: d.referrer
  };
  if (identity) {
    message.it = identity;
  }
  send(message);

  w.addEventListener("pagehide", function () {
    if (left) {
      return;
    }
    left = true;
    send({
      e: "leave",
      k: settings.key,
      v: visitor,
      p: view,
      s: Math.round((Date.now() - shownAt) / 1000)
    });
  });
})();
