// Assessment chart: clicking (or Enter on) a region chooses it in the pain form below.
(function () {
  "use strict";
  const layout = document.querySelector("[data-assessment]");
  const select = document.getElementById("id_region");
  if (!layout || !select) return;
  function choose(path) {
    select.value = path.id;
    layout.querySelectorAll(".region.is-chosen").forEach((p) => p.classList.remove("is-chosen"));
    path.classList.add("is-chosen");
    document.getElementById("id_intensity")?.focus();
  }
  layout.addEventListener("click", (event) => {
    const path = event.target.closest(".region");
    if (path) choose(path);
  });
  layout.addEventListener("keydown", (event) => {
    const path = event.target.closest(".region");
    if (path && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      choose(path);
    }
  });
})();
