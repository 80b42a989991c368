(function () {
  var script = document.currentScript;
  var here = new URLSearchParams(window.location.search);
  var query = new URLSearchParams();
  query.set("embed", "1");
  var visitor = window.crmVisitorId || here.get("vid");
  if (visitor) { query.set("vid", String(visitor)); }
  {{ utm_keys }}.forEach(function (key) {
    if (here.get(key)) { query.set(key, here.get(key)); }
  });
  query.set("page", window.location.href.slice(0, 2000));
  var frame = document.createElement("iframe");
  frame.src = {{ frame_url }} + "?" + query.toString();
  frame.title = {{ title }};
  frame.className = "crm-webform";
  frame.style.width = "100%";
  frame.style.border = "0";
  frame.style.minHeight = "420px";
  if (script && script.parentNode) {
    script.parentNode.insertBefore(frame, script.nextSibling);
  } else {
    document.body.appendChild(frame);
  }
  window.addEventListener("message", function (event) {
    var data = event.data || {};
    if (event.origin === {{ origin }} && data.crmForm === {{ slug }} && data.height) {
      frame.style.height = Math.min(Number(data.height) + 8, 5000) + "px";
    }
  });
})();
