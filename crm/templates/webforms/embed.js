(function () {
  var script = document.currentScript;
  var here = new URLSearchParams(window.location.search);
  var frame = document.createElement("iframe");
  frame.title = {{ title }};
  frame.className = "crm-webform";
  frame.style.width = "100%";
  frame.style.border = "0";
  frame.style.minHeight = "420px";

  function show(visitor) {
    if (frame.src) { return; }
    var query = new URLSearchParams();
    query.set("embed", "1");
    if (visitor) { query.set("vid", String(visitor)); }
    {{ utm_keys }}.forEach(function (key) {
      if (here.get(key)) { query.set(key, here.get(key)); }
    });
    query.set("page", window.location.href.slice(0, 2000));
    frame.src = {{ frame_url }} + "?" + query.toString();
    if (script && script.parentNode) {
      script.parentNode.insertBefore(frame, script.nextSibling);
    } else {
      document.body.appendChild(frame);
    }
  }

  // The site's tracking code (often loaded async) names the visitor; when it
  // is on the page and has not run yet, the form waits for it a moment.
  var tracker = document.querySelector('script[src^="' + {{ origin }} + '/t/"]');
  if (window.crmVisitorId !== undefined || !tracker) {
    show(window.crmVisitorId || here.get("vid"));
  } else {
    document.addEventListener("crm:visitor", function (event) {
      show(event.detail || here.get("vid"));
    }, { once: true });
    setTimeout(function () { show(window.crmVisitorId || here.get("vid")); }, 3000);
  }

  window.addEventListener("message", function (event) {
    var data = event.data || {};
    if (event.origin === {{ origin }} && data.crmForm === {{ slug }} && data.height) {
      frame.style.height = Math.min(Number(data.height) + 8, 5000) + "px";
    }
  });
})();
