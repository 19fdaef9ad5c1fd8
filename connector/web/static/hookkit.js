// hookkit screens: copy buttons, the live mapping preview and running replays' progress. No inline scripts anywhere;
// every text from the server or the user goes into the page with textContent, never HTML.
"use strict";

(function () {
  function meta(name) {
    var found = document.querySelector('meta[name="' + name + '"]');
    return found ? found.getAttribute("content") : "";
  }

  function setUpCopy() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (!source) return;
        source.select();
        var done = function () { button.textContent = "Copied"; };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(source.value).then(done, function () {
            document.execCommand("copy");
            done();
          });
        } else {
          document.execCommand("copy");
          done();
        }
      });
    });
  }

  function eventType() {
    var playground = document.getElementById("playground");
    if (playground) return playground.getAttribute("data-event-type");
    var select = document.getElementById("event");
    if (select && select.selectedOptions.length) return select.selectedOptions[0].value;
    return null;
  }

  function setUpPreview() {
    var mapping = document.querySelector("[data-preview-mapping]");
    var custom = document.querySelector("[data-preview-custom]");
    var output = document.getElementById("preview-output");
    var state = document.getElementById("preview-state");
    var url = meta("preview-url");
    if (!mapping || !output || !url) return;
    var timer = null;
    var sequence = 0;

    function show(text, failed, note) {
      output.textContent = text;
      output.classList.toggle("failed", failed);
      if (state) state.textContent = note;
    }

    function run() {
      var type = eventType();
      if (!type) {
        show("", false, "Pick an event to see its sample.");
        return;
      }
      var body = { event_type: type };
      if (mapping.value.trim()) body.mapping = mapping.value;
      if (custom && custom.value.trim()) {
        try {
          body.custom_values = JSON.parse(custom.value);
        } catch (err) {
          show("Custom values are not valid JSON: " + err.message, true, "Error in custom values");
          return;
        }
      }
      var mine = ++sequence;
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": meta("csrf-token") },
        body: JSON.stringify(body)
      }).then(function (response) {
        return response.json().then(function (answer) { return [response.ok, answer]; });
      }).then(function (pair) {
        if (mine !== sequence) return;  // a newer keystroke's answer wins
        var answer = pair[1];
        if (pair[0]) {
          show(JSON.stringify(answer.result, null, 2), false, "Mapped body");
        } else {
          var text = answer.error || "The preview failed";
          if (answer.expression) text += "\n\n" + answer.expression;
          var note = answer.position !== null && answer.position !== undefined
            ? "Error at position " + answer.position : "Error";
          show(text, true, note);
        }
      }).catch(function () {
        if (mine === sequence) show("The preview could not be reached.", true, "Error");
      });
    }

    function soon() {
      clearTimeout(timer);
      timer = setTimeout(run, 250);
    }
    mapping.addEventListener("input", soon);
    if (custom) custom.addEventListener("input", soon);
    var select = document.getElementById("event");
    if (select) select.addEventListener("change", soon);
    run();
  }

  function progressText(replay) {
    var text = replay.queued + " of " + replay.total + " queued";
    if (replay.missed) text += " (" + replay.missed + " missed)";
    if (replay.skipped) text += ", " + replay.skipped + " skipped";
    return text;
  }

  // A running replay's row follows its progress (the screens' GET of the replay) until it
  // is done or cancelled; then its "Cancel replay" button goes.
  function setUpReplays() {
    document.querySelectorAll("tr[data-progress-url]").forEach(function (row) {
      var url = row.getAttribute("data-progress-url");
      var timer = null;

      function show(replay) {
        var text = row.querySelector(".progress-text");
        if (text) text.textContent = progressText(replay);
        var bar = row.querySelector("progress");
        if (bar) {
          bar.max = replay.total || 1;
          bar.value = replay.total ? replay.queued + replay.skipped : 1;
        }
        var badge = row.querySelector(".badge");
        if (badge) {
          badge.className = "badge " + replay.status;
          badge.textContent = replay.status;
        }
        if (replay.status !== "running") stop();
      }

      function stop() {
        clearInterval(timer);
        var cancel = row.querySelector("form");
        if (cancel) cancel.remove();
      }

      function poll() {
        fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (response) {
            if (!response.ok) {
              clearInterval(timer);  // gone, or the link expired: the page says so on reload
              return null;
            }
            return response.json();
          })
          .then(function (replay) { if (replay) show(replay); })
          .catch(function () {});
      }
      timer = setInterval(poll, 1000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpCopy();
    setUpPreview();
    setUpReplays();
  });
})();
