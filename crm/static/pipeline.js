// The pipeline board: drag a card to another stage's column, or pick the stage
// in the card's "Move to" list (for keyboards, and for columns scrolled out
// of sight; dragging near the board's edge scrolls it too). Moves that need a
// reason (win or loss stage) or the current stage's required checklist items
// open a small dialog first. The server decides; a refused move puts the card
// back in its column and shows the server's message, and a card dropped
// outside every column says so.
(function () {
  "use strict";

  var board = document.getElementById("pipeline-board");
  if (!board) {
    return;
  }
  var dialog = document.getElementById("pipeline-dialog");
  var message = document.getElementById("pipeline-message");
  var dragged = null;
  var origin = null;
  var pendingMove = null;

  function parse(text) {
    try {
      return JSON.parse(text || "[]");
    } catch (error) {
      return [];
    }
  }

  function show(text, ok) {
    message.textContent = text;
    message.classList.remove("d-none", "alert-success", "alert-danger");
    message.classList.add(ok ? "alert-success" : "alert-danger");
  }

  function columnOf(element) {
    return element ? element.closest(".pipeline-column") : null;
  }

  function putBack(card, column) {
    column.querySelector(".pipeline-cards").appendChild(card);
  }

  function updateTotals(totals) {
    Object.keys(totals || {}).forEach(function (stageId) {
      var box = board.querySelector("[data-totals-for='" + stageId + "']");
      if (!box) {
        return;
      }
      box.querySelector(".pipeline-count").textContent = totals[stageId].count;
      box.querySelector(".pipeline-low").textContent = totals[stageId].low;
      box.querySelector(".pipeline-high").textContent = totals[stageId].high;
    });
  }

  function send(card, from, to, extra) {
    var body = {
      stage_id: to.getAttribute("data-stage-id"),
      owner: board.getAttribute("data-owner"),
      reason: extra.reason || "",
      checklist: extra.checklist || []
    };
    board.removeAttribute("data-last-move");
    card.classList.add("pipeline-card-saving");
    fetch(card.getAttribute("data-move-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": board.getAttribute("data-csrf")
      },
      body: JSON.stringify(body)
    })
      .then(function (response) {
        return response.json().then(function (answer) {
          return { ok: response.ok && answer.ok, answer: answer };
        });
      })
      .catch(function () {
        return { ok: false, answer: { message: board.getAttribute("data-offline") } };
      })
      .then(function (result) {
        card.classList.remove("pipeline-card-saving");
        if (result.ok) {
          card.setAttribute("data-pending", JSON.stringify(result.answer.pending || []));
          updateTotals(result.answer.totals);
        } else {
          putBack(card, from);
        }
        show(result.answer.message || "", result.ok);
        board.setAttribute("data-last-move", result.ok ? "done" : "refused");
      });
  }

  function needs(card, from, to) {
    var movesOn =
      to.getAttribute("data-closing") === "1" ||
      Number(to.getAttribute("data-order")) > Number(from.getAttribute("data-order"));
    return {
      checklist: movesOn ? parse(card.getAttribute("data-pending")) : [],
      reasons: to.getAttribute("data-closing") === "1" ? parse(to.getAttribute("data-reasons")) : [],
      reasonRequired: to.getAttribute("data-reason-required") === "1"
    };
  }

  function openDialog(card, from, to, need) {
    var items = dialog.querySelector(".pipeline-dialog-items");
    var select = document.getElementById("pipeline-reason");
    items.textContent = "";
    need.checklist.forEach(function (item) {
      var label = document.createElement("label");
      var box = document.createElement("input");
      label.className = "d-block";
      box.type = "checkbox";
      box.value = item.id;
      box.className = "mr-1 pipeline-check";
      label.appendChild(box);
      label.appendChild(document.createTextNode(item.text));
      items.appendChild(label);
    });
    document.getElementById("pipeline-dialog-checklist").hidden = need.checklist.length === 0;
    while (select.options.length > 1) {
      select.remove(1);
    }
    need.reasons.forEach(function (reason) {
      var option = document.createElement("option");
      option.value = reason;
      option.textContent = reason;
      select.appendChild(option);
    });
    select.value = "";
    select.options[0].disabled = need.reasonRequired;
    document.getElementById("pipeline-dialog-reason").hidden = need.reasons.length === 0;
    pendingMove = { card: card, from: from, to: to };
    dialog.showModal();
  }

  document.getElementById("pipeline-dialog-ok").addEventListener("click", function () {
    var move = pendingMove;
    pendingMove = null;
    dialog.close();
    if (!move) {
      return;
    }
    var checked = Array.prototype.map.call(
      dialog.querySelectorAll(".pipeline-check:checked"),
      function (box) {
        return box.value;
      }
    );
    send(move.card, move.from, move.to, {
      reason: document.getElementById("pipeline-reason").value,
      checklist: checked
    });
  });

  function cancel() {
    if (pendingMove) {
      putBack(pendingMove.card, pendingMove.from);
      pendingMove = null;
    }
  }

  document.getElementById("pipeline-dialog-cancel").addEventListener("click", function () {
    cancel();
    dialog.close();
  });
  dialog.addEventListener("cancel", cancel);

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest(".pipeline-card");
    if (!card) {
      return;
    }
    dragged = card;
    origin = columnOf(card);
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-opportunity-id"));
  });

  function scrollNearEdge(event) {
    var box = board.getBoundingClientRect();
    var edge = Math.min(80, box.width / 6);
    if (event.clientX > box.right - edge) {
      board.scrollLeft += 24;
    } else if (event.clientX < box.left + edge) {
      board.scrollLeft -= 24;
    }
  }

  function moveCard(card, from, to) {
    if (!to || to === from) {
      return;
    }
    to.querySelector(".pipeline-cards").appendChild(card);
    var need = needs(card, from, to);
    if (need.checklist.length || need.reasons.length) {
      openDialog(card, from, to, need);
    } else {
      send(card, from, to, {});
    }
  }

  board.addEventListener("change", function (event) {
    var picker = event.target.closest(".pipeline-move-to");
    if (!picker || !picker.value) {
      return;
    }
    var card = picker.closest(".pipeline-card");
    var to = board.querySelector(
      ".pipeline-column[data-stage-id='" + picker.value + "']"
    );
    var from = columnOf(card);
    picker.value = "";
    if (to === from) {
      // The server answers why not (the card is already there).
      send(card, from, to, {});
      return;
    }
    moveCard(card, from, to);
  });

  board.addEventListener("dragover", function (event) {
    if (dragged) {
      scrollNearEdge(event);
    }
    if (dragged && columnOf(event.target)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
    }
  });

  board.addEventListener("drop", function (event) {
    var to = columnOf(event.target);
    if (!dragged || !to) {
      return;
    }
    event.preventDefault();
    var card = dragged;
    var from = origin;
    dragged = null;
    origin = null;
    moveCard(card, from, to);
  });

  board.addEventListener("dragend", function () {
    // A drop on a column clears ``dragged``; still set, the card landed nowhere.
    if (dragged) {
      show(board.getAttribute("data-missed"), false);
      board.setAttribute("data-last-move", "missed");
    }
    dragged = null;
    origin = null;
  });
})();
