// While background work runs (a full audit verification, a dataset ingest), poll its
// progress and move its bar; reload when it ends, so the server renders the outcome.
// Markup: <div data-poll="URL" data-state="running" [data-done-key="checked"]> with a
// <progress>, and optionally [data-count] and [data-percent] elements, inside.
(function () {
  function show(box, run) {
    var done = run[box.dataset.doneKey || "done"] || 0;
    var total = run.total || 0;
    var bar = box.querySelector("progress");
    if (bar) { bar.max = total || 1; bar.value = done; }
    var count = box.querySelector("[data-count]");
    if (count) { count.textContent = done.toLocaleString() + " / " + total.toLocaleString(); }
    var percent = box.querySelector("[data-percent]");
    if (percent) {
      var share = "percent" in run ? run.percent : (total ? Math.floor(100 * done / total) : 0);
      percent.textContent = share + " %";
    }
  }
  document.querySelectorAll("[data-poll]").forEach(function (box) {
    if (box.dataset.state !== "running") { return; }
    var timer = setInterval(function () {
      fetch(box.dataset.poll, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (run) {
          show(box, run);
          if (run.state !== "running") { clearInterval(timer); window.location.reload(); }
        })
        .catch(function () { clearInterval(timer); });
    }, 500);
  });
})();
