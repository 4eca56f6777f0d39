// Marks the page as scripted (fallback "Save" buttons hide), and reports a change that
// could not be saved in place instead of failing silently.
document.documentElement.classList.add("js");

document.addEventListener("htmx:responseError", function (event) {
  var toast = document.getElementById("toast");
  if (!toast) return;
  var status = event.detail.xhr ? event.detail.xhr.status : 0;
  var text = status === 404
    ? "Not saved: this record is no longer there. Reload the page to see it as it is now."
    : "Not saved: something went wrong. Reload the page and try again.";
  toast.innerHTML = "";
  var p = document.createElement("p");
  p.className = "toast-message toast-message--error";
  p.textContent = text;
  toast.appendChild(p);
});

document.addEventListener("htmx:sendError", function () {
  var toast = document.getElementById("toast");
  if (!toast) return;
  toast.innerHTML = '<p class="toast-message toast-message--error">Not saved: the server did not answer. Check the connection and try again.</p>';
});

// Forms that create a record send once: a double click does not open two sessions.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.matches || !form.matches("form[data-submit-once]")) return;
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
});

// Coming back to a page from the browser's history lets its forms send again.
window.addEventListener("pageshow", function (event) {
  if (!event.persisted) return;
  document.querySelectorAll("form[data-sent]").forEach(function (form) {
    delete form.dataset.sent;
  });
});

// A print button (no inline handlers: the Content-Security-Policy forbids them).
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("[data-print]");
  if (button) window.print();
});

// Sessions end after the clinic's idle period (accounts/sessions.py). The page counts it
// down, warns before the end with a way to stay signed in, and at the end keeps the input
// of a form left unsaved in this tab, then reloads: the server signs out and sends the user
// to sign in, and back here, where the input is put back. (This file loads in the head: the
// watch starts once the body is there.)
document.addEventListener("DOMContentLoaded", function () {
  var body = document.body;
  var idle = body ? Number(body.dataset.idleSeconds) : 0;
  if (!idle) return;
  var warnBefore = Math.min(120, Math.floor(idle / 5));
  var storeKey = "needlechart.unsaved:" + body.dataset.user + ":" + location.pathname;
  var warnTimer = null, endTimer = null, banner = null;

  function csrfToken() {
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function hideWarning() {
    if (banner) { banner.remove(); banner = null; }
  }

  function showWarning() {
    hideWarning();
    banner = document.createElement("div");
    banner.className = "idle-warning";
    banner.id = "idle-warning";
    banner.setAttribute("role", "alertdialog");
    banner.setAttribute("aria-live", "assertive");
    var text = document.createElement("p");
    var minutes = Math.max(1, Math.round(warnBefore / 60));
    text.textContent = "You will be signed out in about " + minutes + " minute" +
      (minutes === 1 ? "" : "s") + " without activity, to keep patient records private. " +
      "Unsaved entries are kept for when you sign in again.";
    var stay = document.createElement("button");
    stay.type = "button";
    stay.className = "button";
    stay.textContent = "Stay signed in";
    stay.addEventListener("click", function () {
      fetch(body.dataset.keepalive, {
        method: "POST", credentials: "same-origin", headers: {"X-CSRFToken": csrfToken()},
      }).then(function (response) {
        if (response.ok) schedule(); else end();
      });
    });
    banner.appendChild(text);
    banner.appendChild(stay);
    body.appendChild(banner);
    stay.focus();
  }

  function keepUnsaved() {
    var kept = [];
    document.querySelectorAll("form").forEach(function (form, index) {
      if (!form.dataset.changed) return;
      var fields = {};
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || ["hidden", "password", "file", "submit", "button"].indexOf(el.type) >= 0) return;
        if (el.type === "checkbox" || el.type === "radio") {
          fields[el.name] = fields[el.name] || [];
          if (el.checked) fields[el.name].push(el.value);
        } else if (el.multiple) {
          fields[el.name] = Array.prototype.filter.call(el.options, function (o) { return o.selected; })
            .map(function (o) { return o.value; });
        } else {
          fields[el.name] = [el.value];
        }
      });
      kept.push({index: index, fields: fields});
    });
    if (kept.length) sessionStorage.setItem(storeKey, JSON.stringify(kept));
  }

  function putBack() {
    var raw = sessionStorage.getItem(storeKey);
    if (!raw) return;
    sessionStorage.removeItem(storeKey);
    var forms = document.querySelectorAll("form");
    JSON.parse(raw).forEach(function (entry) {
      var form = forms[entry.index];
      if (!form) return;
      Object.keys(entry.fields).forEach(function (name) {
        var values = entry.fields[name];
        Array.prototype.forEach.call(form.elements, function (el) {
          if (el.name !== name) return;
          if (el.type === "checkbox" || el.type === "radio") el.checked = values.indexOf(el.value) >= 0;
          else if (el.multiple) Array.prototype.forEach.call(el.options, function (o) { o.selected = values.indexOf(o.value) >= 0; });
          else el.value = values[0];
        });
      });
      form.dataset.changed = "1";
    });
    var toast = document.getElementById("toast");
    if (toast) {
      toast.innerHTML = "";
      var p = document.createElement("p");
      p.className = "toast-message toast-message--warning";
      p.textContent = "What you had entered before you were signed out is back in the form. Check it, then save.";
      toast.appendChild(p);
    }
  }

  function end() {
    keepUnsaved();
    location.reload();
  }

  function schedule() {
    hideWarning();
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    warnTimer = setTimeout(showWarning, (idle - warnBefore) * 1000);
    endTimer = setTimeout(end, (idle + 2) * 1000);
  }

  document.addEventListener("input", function (event) {
    if (event.target.form) event.target.form.dataset.changed = "1";
  });
  document.addEventListener("submit", function () { sessionStorage.removeItem(storeKey); });
  // Each request the page makes in place counts as activity on the server too.
  document.addEventListener("htmx:afterRequest", schedule);
  putBack();
  schedule();
});
