// MathJax 3, served by the site (assets/vendor/mathjax). It typesets the Markdown pages' math, which
// pymdownx.arithmatex wraps in .arithmatex elements as \( \) and \[ \], and the notebooks' Markdown cells
// (.jp-MarkdownOutput) and Markdown outputs of code cells (.jp-RenderedMarkdown, e.g. vtlab.viz's equation
// beside its code), written with $ $ and $$ $$. Nothing else in a page's content (.md-typeset: code,
// outputs, figures) is read as math.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: "md-typeset",
    processHtmlClass: "arithmatex|jp-MarkdownOutput|jp-RenderedMarkdown",
  },
  svg: {fontCache: "global"},
};
