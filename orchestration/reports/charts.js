// Draws the report page's charts as inline SVG from the JSON in #chart-data.
// No library and no network: the page must open from a file on a laptop offline.
// When every chart is drawn, <body data-charts="ready">; on a failure, "error" and the
// message in data-chart-error, shown on the page as well.
(function () {
  "use strict";

  var NS = "http://www.w3.org/2000/svg"; // the SVG namespace name, not a download
  var WIDTH = 640;
  var HEIGHT = 320;
  var MARGIN = { top: 16, right: 20, bottom: 88, left: 80 };
  var LABEL_LENGTH = 18;
  var PALETTE = ["#2f6fb0", "#e07b39", "#3f9c6b", "#c4484f", "#7d5ba6", "#8c6d4f",
    "#d16ba5", "#6c757d", "#b5a03a", "#3aa6b5"];

  var dollars = new Intl.NumberFormat("en-US",
    { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 2 });
  var dollarsShort = new Intl.NumberFormat("en-US",
    { style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 1 });
  var whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

  function format(unit, value, short) {
    if (value === null || value === undefined) { return "n/a"; }
    if (unit === "percent") { return (value * 100).toFixed(short ? 0 : 1) + "%"; }
    if (unit === "count") { return whole.format(value); }
    return short ? dollarsShort.format(value) : dollars.format(value);
  }

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function text(parent, x, y, content, attrs) {
    var node = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    node.textContent = content;
    return node;
  }

  function tooltip(node, content) {
    el("title", {}, node).textContent = content;
  }

  function colour(index) { return PALETTE[index % PALETTE.length]; }

  function values(spec) {
    var all = [];
    spec.series.forEach(function (series) {
      [series.values, series.low || [], series.high || []].forEach(function (list) {
        list.forEach(function (value) { if (value !== null) { all.push(value); } });
      });
    });
    return all;
  }

  // Round tick values covering [low, high], about five of them, always including zero.
  function ticks(low, high) {
    low = Math.min(0, low);
    high = Math.max(0, high);
    if (low === high) { high = low + 1; }
    var raw = (high - low) / 5;
    var magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    var fraction = raw / magnitude;
    var step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude;
    var first = Math.floor(low / step);
    var last = Math.ceil(high / step);
    var out = [];
    for (var at = first; at <= last; at += 1) {
      out.push(Number((at * step).toPrecision(12)));
    }
    return out;
  }

  function frame(plot, spec) {
    var svg = el("svg", {
      viewBox: "0 0 " + WIDTH + " " + HEIGHT, role: "img", "aria-label": spec.title,
      "class": "chart-svg", "data-kind": spec.kind
    }, plot);
    return svg;
  }

  // The y axis with grid lines, the x axis labels, and both axis titles.
  function axes(svg, spec, scale, grid, centres) {
    var axis = el("g", { "class": "axis" }, svg);
    grid.forEach(function (tick) {
      var y = scale(tick);
      el("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y, y2: y,
        "class": tick === 0 ? "zero" : "grid" }, axis);
      text(axis, MARGIN.left - 8, y + 4, format(spec.unit, tick, true), { "text-anchor": "end" });
    });
    var slanted = spec.categories.length > 6 ||
      spec.categories.some(function (name) { return name.length > 12; });
    spec.categories.forEach(function (name, index) {
      var x = centres[index];
      var y = HEIGHT - MARGIN.bottom + 16;
      var short = name.length > LABEL_LENGTH ? name.slice(0, LABEL_LENGTH - 1) + "\u2026" : name;
      var label = text(axis, x, y, short,
        slanted ? { "text-anchor": "end", transform: "rotate(-30 " + x + " " + y + ")" }
          : { "text-anchor": "middle" });
      tooltip(label, name);
    });
    if (spec.y_label) {
      var middle = MARGIN.top + (HEIGHT - MARGIN.top - MARGIN.bottom) / 2;
      text(axis, 14, middle, spec.y_label,
        { "text-anchor": "middle", "class": "axis-title", transform: "rotate(-90 14 " + middle + ")" });
    }
    if (spec.x_label) {
      text(axis, MARGIN.left + (WIDTH - MARGIN.left - MARGIN.right) / 2, HEIGHT - 6, spec.x_label,
        { "text-anchor": "middle", "class": "axis-title" });
    }
  }

  function yScale(grid) {
    var low = grid[0];
    var high = grid[grid.length - 1];
    var top = MARGIN.top;
    var bottom = HEIGHT - MARGIN.bottom;
    return function (value) { return bottom - (value - low) / (high - low) * (bottom - top); };
  }

  function lineChart(svg, spec) {
    var grid = ticks(Math.min.apply(null, values(spec)), Math.max.apply(null, values(spec)));
    var scale = yScale(grid);
    var count = spec.categories.length;
    var inner = WIDTH - MARGIN.left - MARGIN.right;
    var centres = spec.categories.map(function (_, index) {
      return count === 1 ? MARGIN.left + inner / 2 : MARGIN.left + 12 + index * (inner - 24) / (count - 1);
    });
    axes(svg, spec, scale, grid, centres);
    spec.series.forEach(function (series, index) {
      var group = el("g", { "class": "series", "data-series": series.name }, svg);
      var path = "";
      series.values.forEach(function (value, at) {
        if (value === null) { return; }
        path += (path ? " L " : "M ") + centres[at].toFixed(1) + " " + scale(value).toFixed(1);
      });
      if (path) {
        el("path", { d: path, "class": "line", stroke: colour(index) }, group);
      }
      series.values.forEach(function (value, at) {
        if (value === null) { return; }
        var point = el("circle", { cx: centres[at], cy: scale(value), r: 4, "class": "point",
          fill: colour(index) }, group);
        tooltip(point, spec.categories[at] + " \u00b7 " + series.name + ": " + format(spec.unit, value));
      });
    });
  }

  function barChart(svg, spec) {
    var grid = ticks(Math.min.apply(null, values(spec)), Math.max.apply(null, values(spec)));
    var scale = yScale(grid);
    var inner = WIDTH - MARGIN.left - MARGIN.right;
    var slot = inner / spec.categories.length;
    var width = Math.min(48, slot * 0.8 / spec.series.length);
    var centres = spec.categories.map(function (_, index) { return MARGIN.left + slot * (index + 0.5); });
    axes(svg, spec, scale, grid, centres);
    spec.series.forEach(function (series, index) {
      var group = el("g", { "class": "series", "data-series": series.name }, svg);
      series.values.forEach(function (value, at) {
        if (value === null) { return; }
        var left = centres[at] - width * spec.series.length / 2 + index * width;
        var top = Math.min(scale(value), scale(0));
        var bar = el("rect", { x: left, y: top, width: width, height: Math.abs(scale(value) - scale(0)),
          "class": value < 0 ? "bar negative" : "bar", fill: colour(index) }, group);
        var label = spec.categories[at] + " \u00b7 " + series.name + ": " + format(spec.unit, value);
        var low = series.low ? series.low[at] : null;
        var high = series.high ? series.high[at] : null;
        if (low !== null && high !== null) {
          label += " (range " + format(spec.unit, low) + " to " + format(spec.unit, high) + ")";
          var middle = left + width / 2;
          var range = el("g", { "class": "range" }, group);
          el("line", { x1: middle, x2: middle, y1: scale(low), y2: scale(high) }, range);
          el("line", { x1: middle - 6, x2: middle + 6, y1: scale(low), y2: scale(low) }, range);
          el("line", { x1: middle - 6, x2: middle + 6, y1: scale(high), y2: scale(high) }, range);
        }
        tooltip(bar, label);
      });
    });
  }

  function arc(cx, cy, outer, innerRadius, start, end) {
    var large = end - start > Math.PI ? 1 : 0;
    function at(radius, angle) {
      return (cx + radius * Math.sin(angle)).toFixed(2) + " " + (cy - radius * Math.cos(angle)).toFixed(2);
    }
    return "M " + at(outer, start) + " A " + outer + " " + outer + " 0 " + large + " 1 " + at(outer, end) +
      " L " + at(innerRadius, end) + " A " + innerRadius + " " + innerRadius + " 0 " + large + " 0 " +
      at(innerRadius, start) + " Z";
  }

  function donutChart(svg, spec) {
    var amounts = spec.series[0].values.map(function (value) { return value > 0 ? value : 0; });
    var total = amounts.reduce(function (sum, value) { return sum + value; }, 0);
    var cx = WIDTH / 2;
    var cy = HEIGHT / 2;
    var outer = HEIGHT / 2 - 16;
    var innerRadius = outer * 0.58;
    var start = 0;
    var group = el("g", { "class": "series" }, svg);
    amounts.forEach(function (value, index) {
      if (value <= 0 || total <= 0) { return; }
      // A slice of the whole circle is drawn as two halves: one arc cannot close on itself.
      var turn = value / total * 2 * Math.PI;
      var parts = turn >= 2 * Math.PI - 1e-9 ? [[0, Math.PI], [Math.PI, 2 * Math.PI]] : [[start, start + turn]];
      var slice = el("path", {
        d: parts.map(function (part) { return arc(cx, cy, outer, innerRadius, part[0], part[1]); }).join(" "),
        "class": "slice", fill: colour(index)
      }, group);
      tooltip(slice, spec.categories[index] + ": " + format(spec.unit, value) + " (" +
        (value / total * 100).toFixed(1) + "%)");
      start += turn;
    });
    text(svg, cx, cy - 2, format(spec.unit, total, true), { "text-anchor": "middle", "class": "donut-total" });
    text(svg, cx, cy + 16, "total", { "text-anchor": "middle", "class": "donut-caption" });
  }

  function legend(figure, spec) {
    var names = spec.kind === "donut" ? spec.categories : spec.series.map(function (s) { return s.name; });
    if (names.length < 2 && spec.kind !== "donut") { return; }
    var list = document.createElement("ul");
    list.className = "legend";
    names.forEach(function (name, index) {
      var item = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour(index);
      item.appendChild(swatch);
      var label = name;
      if (spec.kind === "donut") {
        label += " " + format(spec.unit, spec.series[0].values[index]);
      }
      item.appendChild(document.createTextNode(label));
      list.appendChild(item);
    });
    figure.querySelector(".plot").after(list);
  }

  var DRAW = { line: lineChart, bar: barChart, donut: donutChart };

  function draw(spec) {
    var figure = document.querySelector('[data-chart="' + spec.key + '"]');
    var plot = figure.querySelector(".plot");
    if (!spec.categories.length || !values(spec).length) {
      plot.textContent = "no data to draw";
      plot.className = "plot empty";
      return;
    }
    DRAW[spec.kind](frame(plot, spec), spec);
    legend(figure, spec);
  }

  try {
    var specs = JSON.parse(document.getElementById("chart-data").textContent);
    specs.forEach(draw);
    document.body.setAttribute("data-chart-count", String(specs.length));
    document.body.setAttribute("data-charts", "ready");
  } catch (error) {
    document.body.setAttribute("data-charts", "error");
    document.body.setAttribute("data-chart-error", String(error));
    var banner = document.getElementById("chart-error");
    banner.textContent = "The charts could not be drawn: " + error;
    banner.hidden = false;
  }
})();
