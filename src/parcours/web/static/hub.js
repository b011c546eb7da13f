// The data hub's only script: draws the charts a page embeds as JSON, with the
// plotly.js that parcours serves itself (/assets/plotly.min.js, loaded on demand).
(function () {
  "use strict";
  // controls that apply at once (tenant switch, timeline filters): no inline handlers,
  // so the pages' Content-Security-Policy can forbid inline script
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  var specs = document.querySelectorAll('script[type="application/json"][data-chart]');
  if (!specs.length) { return; }
  function draw() {
    specs.forEach(function (el) {
      var target = document.getElementById(el.getAttribute("data-chart"));
      if (!target) { return; }
      var fig = JSON.parse(el.textContent);
      Plotly.newPlot(target, fig.data, fig.layout, {
        responsive: true, displaylogo: false, modeBarButtonsToRemove: ["sendDataToCloud"]
      }).then(function () { target.setAttribute("data-drawn", "1"); });
    });
    document.documentElement.setAttribute("data-charts", "drawn");
  }
  if (window.Plotly) { draw(); return; }
  var s = document.createElement("script");
  s.src = "/assets/plotly.min.js";
  s.onload = draw;
  document.head.appendChild(s);
})();
