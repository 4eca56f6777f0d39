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
