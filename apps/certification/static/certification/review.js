/* Keyboard review (documented on the page): j/k move, c certify, r revoke, x select,
   / search, ? help. Buttons stay real buttons: HTMX posts them, and without JavaScript the
   forms still work. */
(function () {
  "use strict";
  var current = 0;
  // Items decided from the keyboard: the focus moved on when the key was pressed.
  var movedOn = {};

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#review-region tr.review-row"));
  }

  function focusRow(index) {
    var list = rows();
    if (!list.length) { return; }
    current = Math.max(0, Math.min(index, list.length - 1));
    list.forEach(function (row) { row.classList.remove("is-current"); });
    var row = list[current];
    row.classList.add("is-current");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function press(row, decision) {
    if (!row) { return; }
    var button = row.querySelector('button[name="decision"][value="' + decision + '"]');
    if (button) {
      movedOn[row.getAttribute("data-item")] = true;
      button.click();
      // Move on at once, not when the answer arrives: keys typed meanwhile act on the next row.
      focusRow(current + 1);
    }
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (target && target.matches && target.matches("input, textarea, select")) {
      if (event.key === "Escape") { target.blur(); }
      return;
    }
    var list = rows();
    var row = list[current];
    switch (event.key) {
      case "j": focusRow(current + 1); break;
      case "k": focusRow(current - 1); break;
      case "c": press(row, "certify"); break;
      case "r": press(row, "revoke"); break;
      case "x": {
        var box = row && row.querySelector('input[type="checkbox"][name="ids"]');
        if (box) { box.checked = !box.checked; }
        break;
      }
      case "/": {
        var search = document.getElementById("f-q");
        if (search) { search.focus(); }
        break;
      }
      case "?": {
        var help = document.getElementById("keyboard-help");
        if (help) { help.open = !help.open; }
        break;
      }
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest("tr.review-row");
    if (row) {
      var index = rows().indexOf(row);
      if (index >= 0) {
        current = index;
        rows().forEach(function (r) { r.classList.remove("is-current"); });
        row.classList.add("is-current");
      }
    }
  });

  // A decided row is swapped in place. Decided by keyboard, the focus has already moved on (and
  // may have moved again since): leave it. Decided by mouse: move on to the next row.
  document.body.addEventListener("htmx:afterSettle", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.classList && elt.classList.contains("review-row")) {
      var item = elt.getAttribute("data-item");
      var index = rows().indexOf(elt);
      if (movedOn[item]) {
        delete movedOn[item];
        focusRow(current);
      } else {
        focusRow(index === current ? index + 1 : current);
      }
    } else if (elt && elt.id === "review-region") {
      focusRow(0);
    }
  });

  document.addEventListener("DOMContentLoaded", function () { focusRow(0); });
})();
