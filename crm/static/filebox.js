/* The File box tab: uploads several files at once with a progress bar.
   Sizes are checked here first so a file over the limit is not sent at all;
   the server checks again and decides. Public links have a copy button.
   Loaded as a file (no inline script). */
(function () {
  "use strict";

  if (window.crmFileCopyWired) {
    return;
  }
  window.crmFileCopyWired = true;

  function tell(button, text) {
    var note = button.parentNode.querySelector(".file-copy-note");
    if (!note) {
      note = document.createElement("span");
      note.className = "file-copy-note crm-muted small ml-1";
      note.setAttribute("role", "status");
      button.parentNode.insertBefore(note, button.nextSibling);
    }
    note.textContent = text;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".file-copy-link");
    if (!button) {
      return;
    }
    var copied = function () {
      tell(button, button.dataset.copied);
    };
    var failed = function () {
      tell(button, button.dataset.copyFailed);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(button.dataset.copy).then(copied, failed);
    } else {
      failed();
    }
  });
})();

(function () {
  "use strict";

  var form = document.getElementById("file-upload");
  if (!form || form.dataset.wired) {
    return;
  }
  form.dataset.wired = "1";
  var input = form.querySelector("input[type=file]");
  var bar = document.getElementById("upload-progress");
  var box = document.getElementById("upload-messages");
  var button = document.getElementById("upload-button");

  function say(messages, kind) {
    messages.forEach(function (text) {
      var line = document.createElement("div");
      line.className = "alert py-1 px-2 mb-1 alert-" + (kind === "error" ? "danger" : "success");
      line.textContent = text;
      box.appendChild(line);
    });
  }

  function refusedLocally(files) {
    var maxFile = Number(form.dataset.maxFile);
    var room = Number(form.dataset.room);
    var refused = [];
    var total = 0;
    files.forEach(function (file) {
      if (file.size > maxFile) {
        refused.push(form.dataset.tooLarge.replace("{name}", file.name));
      }
      total += file.size;
    });
    if (!refused.length && total > room) {
      refused.push(form.dataset.noRoom);
    }
    return refused;
  }

  form.addEventListener("submit", function (event) {
    if (!window.FormData || !window.XMLHttpRequest) {
      return; // a plain form post still works
    }
    event.preventDefault();
    box.textContent = "";
    var files = Array.prototype.slice.call(input.files || []);
    var refused = refusedLocally(files);
    if (refused.length) {
      say(refused, "error");
      return;
    }
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", function (progress) {
      if (progress.lengthComputable) {
        bar.value = Math.round((progress.loaded / progress.total) * 100);
      }
    });
    request.addEventListener("load", function () {
      var answer = null;
      try {
        answer = JSON.parse(request.responseText);
      } catch (error) {
        answer = null;
      }
      button.disabled = false;
      if (!answer) {
        say([form.dataset.failed], "error");
        return;
      }
      say(answer.refused || [], "error");
      if ((answer.kept || []).length) {
        bar.value = 100;
        form.dataset.done = "1";
        window.setTimeout(function () {
          window.location.reload();
        }, answer.refused && answer.refused.length ? 1500 : 0);
      }
    });
    request.addEventListener("error", function () {
      button.disabled = false;
      say([form.dataset.failed], "error");
    });
    bar.hidden = false;
    bar.value = 0;
    button.disabled = true;
    request.send(new FormData(form));
  });
})();
