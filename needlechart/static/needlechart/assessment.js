// Assessment page. Pain: choose the intensity, then click (or press Enter on) a region of
// the chart and it is marked at once. Choosing the region first leaves the intensity to be
// chosen and "Mark pain" pressed: an arrow key in the intensity list must not save 0, 1, 2.
// "Record a finding" next to a muscle to examine fills the finding form with that muscle
// and side.
(function () {
  "use strict";
  function painForm() { return document.getElementById("pain-form"); }
  function mark(form) {
    if (form.region.value && form.intensity.value) form.requestSubmit();
  }
  function choose(path) {
    const form = painForm();
    if (!form) return;
    form.region.value = path.id;
    document.querySelectorAll(".region.is-chosen").forEach((p) => p.classList.remove("is-chosen"));
    path.classList.add("is-chosen");
    if (form.intensity.value) mark(form);
    else form.intensity.focus();
  }
  document.addEventListener("click", (event) => {
    const path = event.target.closest("[data-assessment] .region");
    if (path) { choose(path); return; }
    const examine = event.target.closest("[data-examine-muscle]");
    if (!examine) return;
    const details = document.getElementById("add-finding");
    const form = details && details.querySelector("form");
    if (!form) return;
    event.preventDefault();
    details.open = true;
    form.muscle.value = examine.dataset.examineMuscle;
    if (form.side) form.side.value = examine.dataset.examineSide || "";
    details.scrollIntoView({ block: "start" });
    (form.querySelector("[name=location]") || form.muscle).focus();
  });
  document.addEventListener("keydown", (event) => {
    const path = event.target.closest("[data-assessment] .region");
    if (path && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      choose(path);
    }
  });
})();

// A mark saved: the region is cleared for the next click; intensity and quality stay.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  if (form && form.id === "pain-form" && event.detail.successful && form.region) {
    form.region.value = "";
  }
});
