// While a full verification of the audit log runs, show how far it got; reload when done.
(function () {
  var box = document.getElementById("full-check");
  if (!box || box.dataset.state !== "running") { return; }
  var timer = setInterval(function () {
    fetch("/console/audit/verify", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (check) {
        var bar = document.getElementById("full-progress");
        if (bar) { bar.max = check.total || 1; bar.value = check.checked; }
        var count = document.getElementById("full-count");
        if (count) { count.textContent = check.checked + " / " + check.total; }
        if (check.state !== "running") { clearInterval(timer); window.location.reload(); }
      })
      .catch(function () { clearInterval(timer); });
  }, 1000);
})();
