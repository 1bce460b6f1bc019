/* The LPLR companion: a phone layout for the book's plotly figures.
 *
 * Added by book/_ext/lplr_site.py right after plotly.js, and only on pages that draw a
 * figure. The figures are stored in the notebooks with a desktop layout; on a viewport
 * narrower than NARROW px this script lays each one out again, in the browser, without
 * re-running any Python:
 *
 *   - titles and subplot titles get a smaller font and are wrapped (<br>) to fit the width;
 *   - the plotly toolbar (modebar) is hidden: on a touch screen it covers the title and a
 *     pinch / drag still zooms, a double tap still resets;
 *   - fewer x ticks, smaller margins;
 *   - subplots side by side that would each get less than MIN_PANEL px (three columns on a
 *     390 px phone) are stacked in one column, each panel the full width, their subplot
 *     titles moved with them and the figure made taller;
 *   - the legend is horizontal and goes BELOW everything else: below the lowest axis title,
 *     tick label and slider, measured from the drawn figure (bounding boxes), with the
 *     figure made taller by what the legend needs, so the plot itself keeps its size.
 *
 * After the first draw the figure is measured and, while a title sticks out or a legend
 * covers a slider or an axis title, corrected and measured again (a few rounds at most).
 * On resize across NARROW the stored (desktop) layout comes back, or the phone one is made.
 * Slider steps that set the title are rewritten with the wrapped titles as well.
 * On a wider viewport the stored layout is kept, unless a legend is measured on a slider or
 * an axis title (a narrow desktop window): then that legend alone is moved below everything.
 */
(function () {
  'use strict';
  if (!window.Plotly || window.Plotly.__lplrPhone) return;
  var Plotly = window.Plotly;
  Plotly.__lplrPhone = true;

  var NARROW = 600;           // px: a viewport narrower than this gets the phone layout
  var FONT = 'Helvetica, Arial, sans-serif';
  var TITLE_SIZE = 13, TEXT_SIZE = 11, ANNOTATION_SIZE = 11;
  var GAP = 8;                // px between the legend and what is above it
  var ROUNDS = 4;             // measure-and-correct rounds after the first draw
  var MIN_PANEL = 110;        // px: narrower side-by-side panels are stacked on a phone
  var STACK_GAP = 78;         // px between stacked panels: tick labels, axis title, subplot title

  var canvas = document.createElement('canvas');
  var ctx = canvas.getContext('2d');

  function narrow() {
    return (window.innerWidth || document.documentElement.clientWidth) < NARROW;
  }

  function copy(x) { return x === undefined ? undefined : JSON.parse(JSON.stringify(x)); }

  // ---- text ------------------------------------------------------------------------------
  function plain(html) {
    return String(html).replace(/<br\s*\/?>/gi, '\n').replace(/<[^>]*>/g, '')
      .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  }
  function width(html, size, bold) {
    ctx.font = (bold ? 'bold ' : '') + size + 'px ' + FONT;
    return Math.max.apply(null, plain(html).split('\n').map(function (l) {
      return ctx.measureText(l).width; }));
  }
  // Greedy word wrap of plotly's HTML-ish text: breaks only at spaces outside tags.
  function wrap(html, size, maxWidth) {
    if (typeof html !== 'string' || !html) return html;
    var paragraphs = html.split(/<br\s*\/?>/i), out = [];
    paragraphs.forEach(function (para) {
      var words = [], cur = '', depth = 0;
      for (var i = 0; i < para.length; i++) {
        var ch = para[i];
        if (ch === '<') depth++;
        if (ch === '>') depth = Math.max(0, depth - 1);
        if (ch === ' ' && depth === 0) { if (cur) words.push(cur); cur = ''; } else cur += ch;
      }
      if (cur) words.push(cur);
      var line = '';
      words.forEach(function (w) {
        var trial = line ? line + ' ' + w : w;
        if (line && width(trial, size) > maxWidth) { out.push(line); line = w; } else line = trial;
      });
      out.push(line);
    });
    return out.join('<br>');
  }
  function titleText(t) { return t == null ? '' : (typeof t === 'string' ? t : (t.text || '')); }
  function lines(html) { return String(html).split(/<br\s*\/?>/i).length; }

  // ---- stacking side-by-side subplots --------------------------------------------------------
  // The panels of a figure: one per x axis that has its own domain, with the y axis it is
  // anchored to (plotly's defaults: domain [0, 1], xaxisN anchored to yaxisN).
  function panels(L) {
    var out = [];
    Object.keys(L).forEach(function (k) {
      var m = /^xaxis(\d*)$/.exec(k);
      if (!m || !L[k] || typeof L[k] !== 'object' || L[k].overlaying) return;
      var x = L[k], anchor = x.anchor && x.anchor !== 'free' ? x.anchor : 'y' + m[1];
      var yk = 'yaxis' + anchor.slice(1), y = L[yk] || {};
      if (y.overlaying) return;
      out.push({xk: k, yk: yk, xd: (x.domain || [0, 1]).slice(), yd: (y.domain || [0, 1]).slice()});
    });
    return out;
  }
  // Stacks the panels in one column when a column would be narrower than MIN_PANEL px;
  // returns the extra height the figure needs (0 when nothing moved).
  // Traces placed in paper coordinates of their own (colour bars, pies) would not move with
  // their panel: such figures keep their columns.
  function stackable(data) {
    return !(data || []).some(function (t) {
      return t && (t.showscale !== false && /^(heatmap|contour|histogram2d|histogram2dcontour)$/
        .test(t.type || '') || t.type === 'pie' || t.marker && t.marker.showscale);
    });
  }
  function stackPanels(L, W, plotH, force) {
    var ps = panels(L);
    if (ps.length < 2) return 0;
    var plotW = W - 60;
    var narrowest = Math.min.apply(null, ps.map(function (p) { return (p.xd[1] - p.xd[0]) * plotW; }));
    var columns = {};
    ps.forEach(function (p) { columns[p.xd[0].toFixed(3)] = true; });
    if (Object.keys(columns).length < 2 || (narrowest >= MIN_PANEL && !force)) return 0;
    // reading order: top row first, left to right
    ps.sort(function (a, b) { return (b.yd[1] - a.yd[1]) || (a.xd[0] - b.xd[0]); });
    var n = ps.length;
    var panelH = Math.max(170, Math.min(240, plotH, 0.62 * plotW));
    var total = n * panelH + (n - 1) * STACK_GAP;
    var anns = L.annotations || [];
    ps.forEach(function (p, i) {
      var top = 1 - i * (panelH + STACK_GAP) / total, bottom = top - panelH / total;
      // the subplot title (an annotation centred over the panel at its top) moves with it
      anns.forEach(function (a) {
        if ((a.xref || 'paper') !== 'paper' || (a.yref || 'paper') !== 'paper' || a._lplrMoved) return;
        var cx = (p.xd[0] + p.xd[1]) / 2;
        if (Math.abs(a.x - cx) < 1e-3 && Math.abs(a.y - p.yd[1]) < 1e-3) {
          a.x = 0.5; a.y = top; a._lplrMoved = true;
        }
      });
      L[p.xk] = Object.assign({}, L[p.xk], {domain: [0, 1]});
      L[p.yk] = Object.assign({}, L[p.yk], {domain: [bottom, top]});
    });
    anns.forEach(function (a) { delete a._lplrMoved; });
    return Math.max(0, total - plotH);
  }

  // ---- the phone layout before the first draw ------------------------------------------------
  function phoneLayout(layout, W, data) {
    var L = copy(layout) || {};
    var H = L.height || 450;
    var m0 = L.margin || {};
    if (stackable(data))
      H += stackPanels(L, W, H - (m0.t === undefined ? 60 : m0.t) - (m0.b === undefined ? 60 : m0.b));
    L.height = H;
    L.font = Object.assign({}, L.font, {size: TEXT_SIZE + 1});
    L.margin = Object.assign({}, L.margin, {l: 48, r: 12, pad: 0});
    var ml = 48, mr = 12;

    // Title: left, wrapped to the width, at the very top (the toolbar is hidden).
    var title = titleText(L.title);
    var top = 10;
    // Slider steps may set a longer title than the first one: the top margin holds the
    // longest (in wrapped lines), so no step's title is pushed above the figure's top edge.
    var titleLines = 0;
    (L.sliders || []).forEach(function (s) {
      (s.steps || []).forEach(function (st) {
        (st.args || []).forEach(function (a) {
          if (a && typeof a === 'object' && !Array.isArray(a) && typeof a['title.text'] === 'string')
            titleLines = Math.max(titleLines, lines(wrap(a['title.text'], TITLE_SIZE, W - 20)));
        });
      });
    });
    if (title || titleLines) {
      var text = wrap(title, TITLE_SIZE, W - 20);
      L.title = Object.assign(typeof L.title === 'object' ? L.title : {}, {
        text: text, x: 0, xref: 'container', xanchor: 'left', y: 1 - 6 / H,
        yref: 'container', yanchor: 'top', pad: {l: 8, r: 8, t: 0, b: 0},
        font: Object.assign({}, (L.title || {}).font, {size: TITLE_SIZE})});
      top += Math.max(title ? lines(text) : 0, titleLines) * TITLE_SIZE * 1.3 + 6;
    }
    // Subplot titles and other annotations: smaller, wrapped to what the figure leaves them.
    var annTop = 0;
    (L.annotations || []).forEach(function (a) {
      a.font = Object.assign({}, a.font, {size: ANNOTATION_SIZE});
      if ((a.xref || 'paper') === 'paper' && typeof a.x === 'number' && a.text) {
        var px = ml + a.x * (W - ml - mr), anchor = a.xanchor || 'center', room;
        if (anchor === 'left') room = W - px - 4;
        else if (anchor === 'right') room = px - 4;
        else room = 2 * Math.min(px, W - px) - 8;
        a.text = wrap(a.text, ANNOTATION_SIZE, Math.max(60, room));
        if ((a.yref || 'paper') === 'paper' && a.y >= 1)
          annTop = Math.max(annTop, lines(a.text) * ANNOTATION_SIZE * 1.3 + 4);
      }
    });
    L.margin.t = Math.round(top + annTop + 6);
    // Fewer ticks on every x axis; axis titles a little smaller.
    Object.keys(L).concat(['xaxis']).forEach(function (k) {
      if (/^xaxis\d*$/.test(k)) L[k] = Object.assign({}, L[k], {nticks: 5});
    });
    // Legend: horizontal, small, never scrolled (maxheight: the whole figure's height);
    // its place below everything is set after measuring.
    if (L.showlegend !== false) {
      L.legend = Object.assign({}, L.legend, {orientation: 'h', x: 0, xref: 'container',
        xanchor: 'left', yanchor: 'top', maxheight: 1, font: Object.assign({}, (L.legend || {}).font,
        {size: TEXT_SIZE})});
    }
    // Slider steps that set the title: the same wrapping.
    (L.sliders || []).forEach(function (s) {
      s.currentvalue = Object.assign({}, s.currentvalue, {font: {size: TEXT_SIZE + 1}});
      (s.steps || []).forEach(function (st) {
        var args = st.args || [];
        for (var j = 0; j < args.length; j++) {
          var a = args[j];
          if (a && typeof a === 'object' && !Array.isArray(a) && typeof a['title.text'] === 'string')
            a['title.text'] = wrap(a['title.text'], TITLE_SIZE, W - 20);
        }
      });
    });
    return L;
  }

  // ---- measuring the drawn figure -----------------------------------------------------------
  function box(el) {
    var r = el.getBoundingClientRect();
    return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom, w: r.width, h: r.height};
  }
  function visibleBoxes(gd, selector) {
    return Array.prototype.slice.call(gd.querySelectorAll(selector)).map(box)
      .filter(function (b) { return b.w > 0 && b.h > 0; });
  }
  function overlap(a, b) {
    var dx = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
    var dy = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
    return dx > 1 && dy > 1;
  }
  function measure(gd) {
    var g = box(gd), m = {top: g.y0};
    var svg = gd.querySelector('.main-svg');
    m.fig = svg ? box(svg) : g;
    m.legends = visibleBoxes(gd, '.infolayer > g[class^="legend"] rect.bg');
    // Everything the legend must stay clear of: axis titles, sliders, tick labels.
    m.obstacles = visibleBoxes(gd, '.infolayer g[class^="g-"][class$="title"]:not(.g-gtitle)')
      .concat(visibleBoxes(gd, '.slider-container .slider-group, .slider-container > g'))
      .concat(visibleBoxes(gd, '.xaxislayer-above, .yaxislayer-above'));
    m.titles = visibleBoxes(gd, '.g-gtitle text');
    var mb = visibleBoxes(gd, '.modebar');
    m.modebar = mb.length ? mb[0] : null;
    m.annotations = Array.prototype.slice.call(gd.querySelectorAll('.infolayer .annotation'))
      .map(function (el) { return {el: el, index: Number(el.getAttribute('data-index')), b: box(el)}; })
      .filter(function (a) { return a.b.w > 0; });
    return m;
  }

  // One round: returns a relayout update, or null when nothing collides any more.
  function corrections(gd, m) {
    var fl = gd._fullLayout, up = {}, any = false;
    var H = fl.height, size = fl._size;
    // The main title under the toolbar or past the right edge (a window narrower than the
    // figure was made for): it moves below the toolbar, wrapped to the figure's width.
    var titleHit = m.titles.some(function (t) {
      return t.x1 > m.fig.x1 + 1 || t.x0 < m.fig.x0 - 1 || (m.modebar && overlap(t, m.modebar)); });
    if (titleHit && gd._lplrTitleOffset === undefined) {
      var raw = String(titleText(gd.layout.title)).replace(/<br\s*\/?>/gi, ' ');
      var tsize = (fl.title && fl.title.font && fl.title.font.size) || TITLE_SIZE;
      gd._lplrTitleOffset = m.modebar ? Math.ceil(m.modebar.y1 - m.fig.y0 + 4) : 6;
      up['title.text'] = wrap(raw, tsize, m.fig.x1 - m.fig.x0 - 24);
      up['title.x'] = 0; up['title.xref'] = 'container'; up['title.xanchor'] = 'left';
      up['title.pad'] = {l: 12, r: 12, t: 0, b: 0};
      up['title.yref'] = 'container'; up['title.yanchor'] = 'top';
      up['title.y'] = 1 - gd._lplrTitleOffset / H;
      return up;       // measure again with the title in its new place
    }
    // Titles and annotations that stick out at the left or right: wrap narrower.
    m.annotations.forEach(function (a) {
      var over = Math.max(m.fig.x0 - a.b.x0, a.b.x1 - m.fig.x1);
      if (over > 0.5) {
        var ann = (gd.layout.annotations || [])[a.index];
        if (!ann) return;
        var w = Math.max(40, a.b.w - 2 * over - 6);
        up['annotations[' + a.index + '].text'] =
          wrap(String(ann.text).replace(/<br\s*\/?>/gi, ' '), ANNOTATION_SIZE, w);
        any = true;
      }
    });
    // Room at the top: the title's bottom must stay above every other element.
    var titleBottom = m.titles.length ? Math.max.apply(null, m.titles.map(function (b) { return b.y1; })) : m.fig.y0;
    var titleTop = m.titles.length ? Math.min.apply(null, m.titles.map(function (b) { return b.y0; })) : m.fig.y0;
    var highest = m.fig.y0 + size.t;
    m.annotations.forEach(function (a) { highest = Math.min(highest, a.b.y0); });
    m.legends.forEach(function (b) { highest = Math.min(highest, b.y0); });
    // (with no title, the figure's own top edge is the limit)
    var limit = m.titles.length ? titleBottom + 4 : m.fig.y0 + 2;
    var extraTop = highest < limit ? Math.ceil(limit - highest) : 0;
    if (titleTop < m.fig.y0) extraTop += Math.ceil(m.fig.y0 - titleTop + 2);
    // Room at the bottom: the legend goes below the lowest obstacle.
    var lowest = m.fig.y0 + size.t + size.h;
    m.obstacles.forEach(function (b) { lowest = Math.max(lowest, b.y1); });
    var legendH = m.legends.length ? Math.max.apply(null, m.legends.map(function (b) { return b.h; })) : 0;
    var newH = H + extraTop;
    var marginB = size.b;
    if (m.legends.length) {
      var wantTop = lowest - m.fig.y0 + extraTop + GAP;        // legend top, px from the figure top
      var needH = Math.ceil(wantTop + legendH + GAP);
      var legendTop = Math.min.apply(null, m.legends.map(function (b) { return b.y0; }));
      var collides = m.legends.some(function (l) {
        return m.obstacles.some(function (o) { return overlap(l, o); }); });
      var misplaced = Math.abs((legendTop - m.fig.y0 + extraTop) - wantTop) > 3;
      if (collides || misplaced || Math.abs(needH - newH) > 3) {
        marginB += needH - newH;
        newH = needH;
        up['legend.yref'] = 'container';
        up['legend.yanchor'] = 'top';
        up['legend.y'] = 1 - wantTop / newH;
        any = true;
      }
    } else if (lowest - m.fig.y0 + extraTop > newH) {
      marginB += lowest - m.fig.y0 + extraTop + GAP - newH;
      newH = lowest - m.fig.y0 + extraTop + GAP;
      any = true;
    }
    if (extraTop > 0) { up['margin.t'] = size.t + extraTop; any = true; }
    if (Math.round(newH) !== Math.round(H)) {
      up.height = Math.round(newH);
      up['margin.b'] = Math.max(0, Math.round(marginB));
      if (gd._lplrTitleOffset !== undefined) up['title.y'] = 1 - gd._lplrTitleOffset / newH;
      any = true;
    }
    return any ? up : null;
  }

  // A wider viewport keeps the stored layout, unless a legend is measured on a slider or
  // an axis title there (a desktop window narrower than the figures were made for): then
  // that legend is moved below everything, as on a phone.
  function collides(gd) {
    if (!gd._fullLayout) return false;
    var m = measure(gd);
    gd._lplrFix = m.legends.some(function (l) {
      return m.obstacles.some(function (o) { return overlap(l, o); }); })
      || m.titles.some(function (t) {
        return t.x1 > m.fig.x1 + 1 || t.x0 < m.fig.x0 - 1 || (m.modebar && overlap(t, m.modebar)); })
      || m.annotations.some(function (a) { return a.b.x1 > m.fig.x1 + 1 || a.b.x0 < m.fig.x0 - 1; });
    return gd._lplrFix;
  }

  function settle(gd, round) {
    if (!(gd._lplrPhone || gd._lplrFix) || !gd._fullLayout || round >= ROUNDS)
      return Promise.resolve(gd);
    var up = corrections(gd, measure(gd));
    if (!up) return Promise.resolve(gd);
    // The <div> has the stored height inline; it grows with the figure (the page reflows).
    if (up.height) setHeight(gd, up.height + 'px', up.height + 'px');
    return Plotly.relayout(gd, up).then(function () { return settle(gd, round + 1); });
  }

  // The figure's <div> and the wrapper plotly writes around it carry the stored height
  // inline; both follow the figure's new height, so the page reflows around it.
  function setHeight(gd, own, parent) {
    gd.style.height = own;
    var p = gd.parentElement;
    if (p && p.style.height) p.style.height = parent;
  }

  // A slider step that sets a title with more lines than the first one: plotly grows a
  // multi-line title upwards from its anchor, past the figure's top edge. After every draw
  // of a phone figure the title is measured and moved back inside (and up again when a
  // shorter title follows); the top margin already holds the longest title.
  function keepTitleInside(gd) {
    if (!gd._lplrPhone || gd._lplrTitleBusy || !gd._fullLayout || !gd._fullLayout.title) return;
    var t = gd.querySelector('.g-gtitle text'), svg = gd.querySelector('.main-svg');
    if (!t || !svg) return;
    var tb = t.getBoundingClientRect(), fb = svg.getBoundingClientRect();
    if (!tb.height) return;
    var shifted = gd._lplrTitleShift || 0, move = 0;
    if (tb.top < fb.top + 1) move = fb.top + 3 - tb.top;                       // down, inside
    else if (shifted > 0 && tb.top > fb.top + 4) move = -Math.min(shifted, tb.top - fb.top - 3);
    if (Math.abs(move) < 1) return;
    var fl = gd._fullLayout;
    gd._lplrTitleBusy = true;
    gd._lplrTitleShift = shifted + move;
    var done = function () { gd._lplrTitleBusy = false; };
    Plotly.relayout(gd, {'title.y': fl.title.y - move / fl.height}).then(done, done);
  }
  function watchTitle(gd) {
    if (!gd || !gd.on) return gd;
    if (gd._lplrWatch && gd.removeListener) gd.removeListener('plotly_afterplot', gd._lplrWatch);
    gd._lplrTitleShift = 0;
    gd._lplrWatch = function () { setTimeout(function () { keepTitleInside(gd); }, 0); };
    gd.on('plotly_afterplot', gd._lplrWatch);
    return gd;
  }

  // Drawn side-by-side panels narrower than MIN_PANEL px (the axis titles and tick labels
  // took more room than the estimate before the draw): stacked, and drawn again.
  function squeezed(gd) {
    var fl = gd._fullLayout;
    if (!fl) return false;
    return Object.keys(fl).some(function (k) {
      var ax = fl[k];
      return /^xaxis\d*$/.test(k) && ax && ax._length && ax._length < MIN_PANEL
        && ax.domain && ax.domain[1] - ax.domain[0] < 0.99;
    });
  }
  function drawPhone(gd, data, L, config) {
    return newPlot.call(Plotly, gd, data, L, config).then(function (g) {
      if (g._lplrStacked || !squeezed(g) || !stackable(data)) return g;
      var L2 = copy(L), m = L2.margin || {};
      var grow = stackPanels(L2, g.clientWidth || window.innerWidth,
                             L2.height - (m.t || 0) - (m.b || 0), true);
      g._lplrStacked = true;
      if (!grow && panels(L2).length < 2) return g;
      L2.height = (L2.height || 450) + grow;
      setHeight(g, L2.height + 'px', L2.height + 'px');
      return newPlot.call(Plotly, g, g.data, L2, config);
    });
  }

  // ---- wiring -----------------------------------------------------------------------------------
  function configFor(config, phone) {
    var c = Object.assign({}, config);
    if (phone) c.displayModeBar = false;
    return c;
  }

  var newPlot = Plotly.newPlot;
  Plotly.newPlot = function (gd, data, layout, config) {
    var el = typeof gd === 'string' ? document.getElementById(gd) : gd;
    if (!el || (data && !Array.isArray(data))) return newPlot.apply(this, arguments);
    el._lplrOriginal = {layout: copy(layout) || {}, config: copy(config) || {},
                        height: el.style.height,
                        parentHeight: el.parentElement ? el.parentElement.style.height : ''};
    var phone = narrow();
    el._lplrPhone = phone;
    el._lplrTitleOffset = phone ? 6 : undefined;   // px from the top to the title, once moved
    var W = el.clientWidth || window.innerWidth;
    el._lplrWidth = W;
    if (lastWidth === null) lastWidth = window.innerWidth;
    var L = phone ? phoneLayout(layout, W, data) : layout;
    if (phone && L.height !== ((layout && layout.height) || 450))   // stacked panels: taller
      setHeight(el, L.height + 'px', L.height + 'px');
    el._lplrStacked = false;
    var draw = phone ? drawPhone(el, data, L, configFor(config, phone))
                     : newPlot.call(this, el, data, L, configFor(config, phone));
    return draw.then(function (g) {
      watchTitle(g);
      return phone || collides(g) ? settle(g, 0) : g;
    });
  };

  function redraw(gd) {
    var orig = gd._lplrOriginal, phone = narrow();
    if (!orig) return;
    if (!phone && !gd._lplrPhone && !gd._lplrFix) {
      // plotly has resized it (responsive); correct a legend collision the new width made
      if (collides(gd)) settle(gd, 0);
      return;
    }
    var base = copy(orig.layout);
    // Keep the reader's slider positions and the title that goes with them.
    ((gd.layout && gd.layout.sliders) || []).forEach(function (s, i) {
      if (!base.sliders || !base.sliders[i]) return;
      base.sliders[i].active = s.active;
      var st = (base.sliders[i].steps || [])[s.active];
      var args = (st && st.args) || [];
      args.forEach(function (a) {
        if (a && typeof a === 'object' && !Array.isArray(a) && typeof a['title.text'] === 'string') {
          base.title = Object.assign(typeof base.title === 'object' ? base.title : {}, {text: a['title.text']});
        }
      });
    });
    var W = gd.parentElement ? gd.parentElement.clientWidth : window.innerWidth;
    // A phone layout made for this width already (e.g. the first resize event a mobile
    // browser sends while it settles on the viewport): nothing to redo.
    if (phone && gd._lplrPhone && Math.abs(W - (gd._lplrWidth || 0)) < 2) return;
    gd._lplrWidth = W;
    gd._lplrPhone = phone;
    gd._lplrTitleOffset = phone ? 6 : undefined;
    var L = phone ? phoneLayout(base, W, gd.data) : base;
    delete L.width;
    setHeight(gd, orig.height, orig.parentHeight);
    if (phone && L.height !== (base.height || 450)) setHeight(gd, L.height + 'px', L.height + 'px');
    gd._lplrFix = false;
    gd._lplrStacked = false;
    // A fresh draw (plotly's own newPlot, not react: react's update of a slider after a
    // width change logged a rail of width -1).
    (phone ? drawPhone(gd, gd.data, L, configFor(orig.config, phone))
           : newPlot.call(Plotly, gd, gd.data, L, configFor(orig.config, phone))).then(function (g) {
      watchTitle(g);
      return phone || collides(g) ? settle(g, 0) : g;
    });
  }

  // lastWidth: the viewport's width when the first figure was laid out (a mobile browser
  // may report another width while this script loads, in <head>).
  var timer = null, lastWidth = null;
  window.addEventListener('resize', function () {
    if (lastWidth === null || window.innerWidth === lastWidth) return;
    lastWidth = window.innerWidth;
    clearTimeout(timer);
    timer = setTimeout(function () {
      Array.prototype.forEach.call(document.querySelectorAll('.js-plotly-plot'), redraw);
    }, 250);
  });
})();
