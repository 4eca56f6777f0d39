// The row form: when a muscle lies over the lung or a nerve or vessel, show the advice from
// its data and suggest the superficial approach (only while no depth is chosen).
(function () {
  function advice() {
    var data = document.getElementById("muscle-advice-data");
    return data ? JSON.parse(data.textContent) : {};
  }
  var known = null;
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.name || !/(^|-)muscle$/.test(select.name)) return;
    var form = select.form;
    if (!form) return;
    known = known || advice();
    var entry = known[select.value];
    var note = form.querySelector(".advice") || document.getElementById("muscle-advice-note");
    var depth = form.querySelector("select[name$='depth']");
    if (note) {
      note.textContent = entry
        ? (entry.shallow ? "Suggested: the superficial approach. " : "") + entry.text
        : "";
    }
    if (entry && entry.shallow && depth && !depth.value) depth.value = "superficial";
  });
})();

// "From the assessment": one click puts the trigger point's muscle and side in the row form.
document.addEventListener("click", function (event) {
  var link = event.target.closest("[data-add-muscle]");
  if (!link) return;
  var form = link.closest("form");
  var muscle = form && form.querySelector("select[name=muscle]");
  if (!muscle) return;
  event.preventDefault();
  muscle.value = link.dataset.addMuscle;
  var side = form.querySelector("select[name=side]");
  if (side) side.value = link.dataset.addSide || "";
  muscle.dispatchEvent(new Event("change", { bubbles: true }));
  var size = form.querySelector("select[name=needle_size]");
  if (size) size.focus();
});

// A row's findings, once picked, no longer stand out as missing.
document.addEventListener("change", function (event) {
  var pick = event.target;
  if (pick.name === "response") pick.classList.toggle("needs-value", !pick.value);
});
