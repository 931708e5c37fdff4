/*
 * rag chat widget: an embeddable, streaming, citation-first chat over the documents of a rag service.
 *
 *   <script src="https://HOST/widget.js" data-api="https://HOST" data-key="QUERY_KEY" data-lang="fr" defer></script>
 *
 * Attributes (all optional): data-api (the service's origin; default: where widget.js comes from), data-key
 * (a query-scoped API key, sent as Authorization: Bearer), data-lang ("fr" or "en"; default: the page's
 * language, else French), data-model ("auto" picks the service's generative model when it has one, else
 * "rag-extractive"), data-title (the panel's title), data-suggestions (example questions separated by "|"),
 * data-open ("true" opens the panel on load).
 *
 * Safety: everything that comes from the server (answers, titles, quotes, documents, error messages) is
 * inserted as text (textContent, Text nodes); only [n] citation markers and line breaks become elements.
 * No DOM API that parses HTML is used anywhere in this file. The UI lives in an open Shadow DOM styled by
 * a constructed stylesheet, so the host page's CSS cannot reach it and its CSS cannot leak out.
 *
 * Plain modern JavaScript, no build step, no dependencies.
 */
(function () {
  "use strict";

  if (window.RagWidget) return; // included twice: one widget

  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  var NS = "http://www.w3.org/2000/svg";
  var STORAGE_VERSION = 1;
  var MAX_STORED_MESSAGES = 40;
  var MAX_QUESTION_CHARS = 2000;
  var STALL_MS = 60000;
  var MARKER = /\[(\d{1,3})\]/g;

  var STRINGS = {
    fr: {
      launcher: "Poser une question",
      launcherOpen: "Fermer l’assistant",
      title: "Questions sur nos articles",
      subtitle: "Réponses tirées des documents, avec leurs sources",
      dialog: "Assistant de questions sur les documents",
      newChat: "Nouvelle conversation",
      close: "Fermer",
      inputLabel: "Votre question",
      placeholder: "Posez votre question…",
      hint: "Entrée pour envoyer, Maj+Entrée pour aller à la ligne",
      send: "Envoyer",
      stop: "Arrêter",
      welcome:
        "Bonjour ! Posez une question sur les articles de ce site. Chaque réponse cite ses sources, " +
        "et je vous dis quand la réponse n’est pas dans les documents.",
      examples: "Par exemple :",
      you: "Vous",
      assistant: "Assistant",
      searching: "Recherche dans les documents…",
      sources: "Sources",
      citeLabel: function (n, title) { return "Source " + n + " : " + title; },
      openSource: function (n, title) { return "Ouvrir la source " + n + " dans l’article : " + title; },
      page: function (n) { return "p. " + n; },
      openOriginal: function (n, title) { return "Ouvrir le PDF à la page " + n + " : " + title; },
      notFound: "Pas dans les documents",
      notFoundHelp: "Les documents ne contiennent pas de réponse sûre à cette question.",
      seeAlso: "Passages proches",
      openNearby: function (title) { return "Ouvrir le passage dans l’article : " + title; },
      degraded:
        "Réponse de secours : le modèle de langage est indisponible, la réponse est extraite directement des documents.",
      conflict: "Attention : les sources ne concordent pas sur ce point.",
      stopped: "Réponse interrompue.",
      retry: "Réessayer",
      retryIn: function (s) { return "Réessayer (" + s + " s)"; },
      errNetwork: "Impossible de joindre le service. Vérifiez votre connexion, puis réessayez.",
      errRate: function (s) {
        return s ? "Trop de questions en peu de temps. Réessayez dans " + s + " s." : "Trop de questions en peu de temps. Réessayez dans un instant.";
      },
      errBusy: "Le service est momentanément surchargé ou indisponible. Réessayez dans un instant.",
      errAuth: "Ce site n’est pas autorisé à interroger le service (clé d’accès refusée).",
      errOther: function (m) { return "La question n’a pas pu être traitée : " + m; },
      errCut: "La réponse a été coupée avant la fin. Réessayez.",
      errEmptyDoc: "Cet article n’existe plus.",
      back: "Retour à la conversation",
      loadingDoc: "Chargement de l’article…",
      errDoc: "Impossible d’afficher l’article.",
      citedPassage: function (n) { return "Passage cité [" + n + "]"; },
      nearPassage: "Passage proche de la question",
      docChanged: "L’article a changé depuis la réponse : le passage cité n’y figure plus.",
      articleText: "Texte de l’article",
      footer: "Les réponses peuvent contenir des erreurs : vérifiez les sources.",
    },
    en: {
      launcher: "Ask a question",
      launcherOpen: "Close the assistant",
      title: "Questions about our articles",
      subtitle: "Answers drawn from the documents, with their sources",
      dialog: "Document question assistant",
      newChat: "New conversation",
      close: "Close",
      inputLabel: "Your question",
      placeholder: "Ask your question…",
      hint: "Enter to send, Shift+Enter for a new line",
      send: "Send",
      stop: "Stop",
      welcome:
        "Hello! Ask a question about this site’s articles. Every answer cites its sources, " +
        "and I tell you when the answer is not in the documents.",
      examples: "For example:",
      you: "You",
      assistant: "Assistant",
      searching: "Searching the documents…",
      sources: "Sources",
      citeLabel: function (n, title) { return "Source " + n + ": " + title; },
      openSource: function (n, title) { return "Open source " + n + " in its article: " + title; },
      page: function (n) { return "p. " + n; },
      openOriginal: function (n, title) { return "Open the PDF at page " + n + ": " + title; },
      notFound: "Not in the documents",
      notFoundHelp: "The documents do not contain a reliable answer to this question.",
      seeAlso: "Nearby passages",
      openNearby: function (title) { return "Open the passage in its article: " + title; },
      degraded: "Fallback answer: the language model is unavailable, the answer is quoted straight from the documents.",
      conflict: "Careful: the sources disagree on this point.",
      stopped: "Answer stopped.",
      retry: "Retry",
      retryIn: function (s) { return "Retry (" + s + " s)"; },
      errNetwork: "The service cannot be reached. Check your connection, then retry.",
      errRate: function (s) {
        return s ? "Too many questions in a short time. Retry in " + s + " s." : "Too many questions in a short time. Retry in a moment.";
      },
      errBusy: "The service is temporarily overloaded or unavailable. Retry in a moment.",
      errAuth: "This site is not allowed to query the service (access key refused).",
      errOther: function (m) { return "The question could not be processed: " + m; },
      errCut: "The answer was cut off before the end. Retry.",
      errEmptyDoc: "This article no longer exists.",
      back: "Back to the conversation",
      loadingDoc: "Loading the article…",
      errDoc: "The article cannot be shown.",
      citedPassage: function (n) { return "Cited passage [" + n + "]"; },
      nearPassage: "Passage close to the question",
      docChanged: "The article changed since the answer: the cited passage is no longer in it.",
      articleText: "Article text",
      footer: "Answers can contain mistakes: check the sources.",
    },
  };

  var ICONS = {
    chat: ["M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"],
    close: ["M18 6 6 18", "M6 6l12 12"],
    down: ["M6 9l6 6 6-6"],
    edit: ["M12 20h9", "M16.5 3.5a2.121 2.121 0 0 1 3 3L7 19l-4 1 1-4z"],
    send: ["M22 2 11 13", "M22 2l-7 20-4-9-9-4z"],
    stop: ["M7 7h10v10H7z"],
    back: ["M19 12H5", "M12 19l-7-7 7-7"],
    alert: ["M12 9v4", "M12 17h.01", "M10.29 3.86 1.82 18a2 2 0 0 0 1.71 3h16.94a2 2 0 0 0 1.71-3L13.71 3.86a2 2 0 0 0-3.42 0z"],
    info: ["M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z", "M12 16v-4", "M12 8h.01"],
    doc: ["M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z", "M14 2v6h6", "M16 13H8", "M16 17H8"],
  };

  var CSS = [
    ":host{all:initial!important;display:block!important;position:fixed!important;right:20px!important;",
    "bottom:20px!important;left:auto!important;top:auto!important;z-index:2147483000!important;",
    "width:auto!important;height:auto!important;margin:0!important;padding:0!important;border:0!important;",
    "background:transparent!important;visibility:visible!important;opacity:1!important;transform:none!important;",
    "filter:none!important;}",
    ":host::before,:host::after{content:none!important;display:none!important;}",
    "*,*::before,*::after{box-sizing:border-box;}",
    ".root{display:flex;flex-direction:column;align-items:flex-end;gap:12px;font-family:system-ui,-apple-system,",
    "'Segoe UI',Roboto,'Helvetica Neue',Arial,'Noto Sans',sans-serif;font-size:15px;line-height:1.5;color:#111827;",
    "font-weight:400;font-style:normal;letter-spacing:normal;word-spacing:normal;text-transform:none;text-align:left;",
    "text-indent:0;text-shadow:none;white-space:normal;direction:ltr;cursor:auto;-webkit-font-smoothing:antialiased;}",
    "[hidden]{display:none!important;}",
    "button{font:inherit;color:inherit;background:none;border:0;margin:0;padding:0;cursor:pointer;text-align:inherit;",
    "line-height:inherit;letter-spacing:inherit;text-transform:none;}",
    "button:disabled{cursor:not-allowed;}",
    "svg{width:20px;height:20px;flex:none;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;",
    "stroke-linejoin:round;display:block;}",
    ":focus{outline:none;}",
    ":focus-visible{outline:3px solid #1e40af;outline-offset:2px;box-shadow:0 0 0 2px #ffffff;}",
    ".sr{position:absolute!important;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);",
    "white-space:nowrap;border:0;}",
    ".launcher{display:inline-flex;align-items:center;gap:8px;height:52px;padding:0 20px 0 16px;border-radius:26px;",
    "background:#1d4ed8;color:#ffffff;font-size:15px;font-weight:600;box-shadow:0 6px 20px rgba(17,24,39,.28);}",
    ".launcher:hover{background:#1e40af;}",
    ".launcher[aria-expanded='true']{padding:0 16px;}",
    ".panel{display:flex;flex-direction:column;width:400px;max-width:calc(100vw - 40px);",
    "height:620px;max-height:calc(100vh - 104px);background:#ffffff;color:#111827;border:1px solid #d1d5db;",
    "border-radius:16px;box-shadow:0 12px 40px rgba(17,24,39,.25);overflow:hidden;}",
    ".head{display:flex;align-items:flex-start;gap:8px;padding:14px 12px 12px 16px;border-bottom:1px solid #e5e7eb;",
    "background:#f9fafb;}",
    ".head-text{flex:1;min-width:0;}",
    ".title{margin:0;font-size:16px;font-weight:700;line-height:1.3;color:#111827;}",
    ".subtitle{margin:2px 0 0;font-size:13px;color:#4b5563;}",
    ".icon-btn{display:inline-flex;align-items:center;justify-content:center;width:36px;height:36px;border-radius:8px;",
    "color:#374151;}",
    ".icon-btn:hover{background:#e5e7eb;color:#111827;}",
    ".view{flex:1;min-height:0;display:flex;flex-direction:column;}",
    ".log{position:relative;flex:1;min-height:0;overflow-y:auto;padding:16px;display:flex;flex-direction:column;gap:14px;",
    "overscroll-behavior:contain;}",
    ".welcome{margin:0;color:#374151;font-size:14px;}",
    ".examples{display:flex;flex-direction:column;align-items:flex-start;gap:6px;margin-top:8px;}",
    ".examples-label{font-size:13px;color:#4b5563;margin:0;}",
    ".example{padding:6px 12px;border:1px solid #bfdbfe;border-radius:16px;background:#eff6ff;color:#1e3a8a;",
    "font-size:14px;}",
    ".example:hover{background:#dbeafe;}",
    ".msg{display:flex;flex-direction:column;gap:6px;max-width:100%;}",
    ".msg.user{align-items:flex-end;}",
    ".who{font-size:12px;font-weight:600;color:#4b5563;}",
    ".bubble{padding:10px 14px;border-radius:14px;overflow-wrap:anywhere;max-width:92%;}",
    ".user .bubble{background:#1d4ed8;color:#ffffff;border-bottom-right-radius:4px;white-space:pre-wrap;}",
    ".assistant .bubble{background:#f3f4f6;color:#111827;border-bottom-left-radius:4px;max-width:100%;}",
    ".assistant.not-found .bubble{background:#fffbeb;border:1px solid #fcd34d;}",
    ".assistant.error .bubble{background:#fef2f2;border:1px solid #fecaca;color:#991b1b;}",
    ".badge{display:inline-flex;align-items:center;gap:6px;font-size:13px;font-weight:700;color:#78350f;",
    "margin-bottom:4px;}",
    ".badge svg{width:16px;height:16px;}",
    ".help{margin:4px 0 0;font-size:14px;color:#374151;}",
    ".answer{margin:0;}",
    ".cite{display:inline-flex;align-items:center;justify-content:center;min-width:22px;height:20px;padding:0 5px;",
    "margin:0 1px;border-radius:6px;background:#dbeafe;color:#1e3a8a;font-size:12px;font-weight:700;",
    "line-height:20px;vertical-align:1px;}",
    "button.cite:hover{background:#bfdbfe;}",
    ".cite.pending{background:#e5e7eb;color:#374151;}",
    ".note{display:flex;gap:8px;align-items:flex-start;margin-top:8px;padding:8px 10px;border-radius:8px;font-size:13px;}",
    ".note svg{width:16px;height:16px;margin-top:2px;}",
    ".note.degraded,.note.conflict{background:#fff7ed;color:#9a3412;border:1px solid #fed7aa;}",
    ".note.stopped{background:#f3f4f6;color:#374151;border:1px solid #d1d5db;}",
    ".typing{display:inline-flex;align-items:center;gap:8px;color:#4b5563;font-size:14px;}",
    ".dots{display:inline-flex;gap:3px;}",
    ".dots i{width:6px;height:6px;border-radius:50%;background:#6b7280;animation:rag-blink 1.2s infinite ease-in-out;}",
    ".dots i:nth-child(2){animation-delay:.2s;}.dots i:nth-child(3){animation-delay:.4s;}",
    "@keyframes rag-blink{0%,80%,100%{opacity:.25;}40%{opacity:1;}}",
    ".refs{margin-top:8px;}",
    ".refs-title{margin:0 0 6px;font-size:12px;font-weight:700;letter-spacing:.04em;text-transform:uppercase;",
    "color:#4b5563;}",
    ".refs ol{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:6px;}",
    ".ref{display:flex;gap:10px;width:100%;padding:8px 10px;border:1px solid #e5e7eb;border-radius:10px;",
    "background:#ffffff;color:#111827;text-align:left;}",
    ".ref:hover{border-color:#93c5fd;background:#f8fafc;}",
    ".ref-n{flex:none;display:inline-flex;align-items:center;justify-content:center;min-width:22px;height:22px;",
    "border-radius:6px;background:#dbeafe;color:#1e3a8a;font-size:12px;font-weight:700;}",
    ".ref-body{display:flex;flex-direction:column;gap:2px;min-width:0;}",
    ".ref-title{font-size:14px;font-weight:600;color:#1e3a8a;text-decoration:underline;text-underline-offset:2px;}",
    ".ref-date{font-size:12px;color:#4b5563;}",
    ".ref-page{font-size:12px;color:#4b5563;}",
    ".ref-original{align-self:flex-start;margin:2px 0 0 42px;font-size:12px;color:#1e3a8a;}",
    ".ref-span{background:#fef08a;color:#111827;font-weight:600;border-radius:3px;padding:0 2px;}",
    ".ref-quote{font-size:13px;color:#374151;display:-webkit-box;-webkit-line-clamp:6;-webkit-box-orient:vertical;",
    "overflow:hidden;overflow-wrap:anywhere;}",
    ".error-text{margin:0;display:flex;gap:8px;align-items:flex-start;}",
    ".error-text svg{margin-top:2px;}",
    ".retry{margin-top:8px;padding:6px 14px;border-radius:8px;background:#991b1b;color:#ffffff;font-weight:600;",
    "font-size:14px;}",
    ".retry:hover{background:#7f1d1d;}",
    ".retry:disabled{background:#9ca3af;color:#111827;}",
    ".composer{border-top:1px solid #e5e7eb;padding:10px 12px 8px;background:#ffffff;}",
    ".row{display:flex;gap:8px;align-items:flex-end;}",
    "textarea{flex:1;min-width:0;resize:none;font:inherit;font-size:15px;color:#111827;background:#ffffff;",
    "border:1px solid #9ca3af;border-radius:10px;padding:9px 12px;margin:0;height:44px;max-height:140px;",
    "line-height:1.5;overflow-y:auto;}",
    "textarea::placeholder{color:#6b7280;opacity:1;}",
    "textarea:focus-visible{outline:3px solid #1e40af;outline-offset:1px;box-shadow:none;}",
    ".send,.stop{display:inline-flex;align-items:center;justify-content:center;width:44px;height:44px;",
    "border-radius:10px;flex:none;}",
    ".send{background:#1d4ed8;color:#ffffff;}",
    ".send:hover{background:#1e40af;}",
    ".send:disabled{background:#9ca3af;color:#1f2937;}",
    ".stop{background:#111827;color:#ffffff;}",
    ".stop svg{fill:currentColor;}",
    ".footer{margin:6px 2px 0;font-size:12px;color:#4b5563;}",
    ".reader{flex:1;min-height:0;display:flex;flex-direction:column;}",
    ".reader-head{padding:10px 16px 10px 10px;border-bottom:1px solid #e5e7eb;}",
    ".back{display:inline-flex;align-items:center;gap:6px;padding:6px 8px;border-radius:8px;color:#1e3a8a;",
    "font-size:14px;font-weight:600;}",
    ".back:hover{background:#eff6ff;}",
    ".reader-title{margin:6px 6px 0;font-size:16px;font-weight:700;line-height:1.35;color:#111827;}",
    ".reader-meta{margin:2px 6px 0;font-size:13px;color:#4b5563;}",
    ".doc{position:relative;flex:1;min-height:0;overflow-y:auto;padding:14px 16px 24px;white-space:pre-wrap;",
    "overflow-wrap:anywhere;font-size:14px;line-height:1.6;color:#1f2937;overscroll-behavior:contain;}",
    "mark{background:#fde047;color:#111827;padding:1px 0;border-radius:2px;box-shadow:0 0 0 2px #fde047;}",
    ".doc-status{padding:16px;color:#374151;font-size:14px;}",
    ".doc-status.bad{color:#991b1b;}",
    ".doc-warning{margin:10px 16px 0;}",
    "@media (max-width:480px){:host{right:12px!important;bottom:12px!important;}",
    ".panel{position:fixed;inset:0;width:auto;max-width:none;height:auto;max-height:none;border-radius:0;border:0;}}",
    "@media (prefers-reduced-motion:reduce){.dots i{animation:none;opacity:.6;}}",
    "@media (forced-colors:active){.cite,.ref-n,.launcher,.send,.stop,.retry{border:1px solid ButtonText;}",
    "mark{forced-color-adjust:none;}}",
  ].join("");

  // ---- helpers ---------------------------------------------------------------------------------------------

  /** An element with attributes, listeners and children; strings become Text nodes (never parsed as HTML). */
  function h(tag, props) {
    var el = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var value = props[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "class") el.className = value;
        else if (key === "text") el.textContent = value;
        else if (key.slice(0, 2) === "on") el.addEventListener(key.slice(2), value);
        else el.setAttribute(key, value === true ? "" : String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(el, c); });
    else el.append(child); // a string is appended as a Text node
  }

  function icon(name) {
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    ICONS[name].forEach(function (d) {
      var path = document.createElementNS(NS, "path");
      path.setAttribute("d", d);
      svg.append(path);
    });
    return svg;
  }

  function uid() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  }

  function attr(name) {
    var value = script && script.getAttribute("data-" + name);
    return value === null || value === undefined ? "" : value.trim();
  }

  function pickLang() {
    var wanted = (attr("lang") || document.documentElement.lang || "fr").toLowerCase();
    return wanted.slice(0, 2) === "en" ? "en" : "fr";
  }

  function apiBase() {
    var given = attr("api");
    try {
      if (given) return new URL(given, document.baseURI).href.replace(/\/+$/, "");
      if (script && script.src) return new URL(script.src).origin;
    } catch (e) {
      /* fall through */
    }
    return window.location.origin;
  }

  // ---- configuration and state ------------------------------------------------------------------------------

  var lang = pickLang();
  var T = STRINGS[lang];
  var config = {
    api: apiBase(),
    key: attr("key"),
    model: attr("model") || "auto",
    title: attr("title") || T.title,
    suggestions: attr("suggestions")
      .split("|")
      .map(function (s) { return s.trim(); })
      .filter(Boolean)
      .slice(0, 4),
    openOnLoad: attr("open") === "true",
  };
  var storageKey = "rag-widget:v" + STORAGE_VERSION + ":" + config.api;
  var dateFormats = {};

  var state = { open: false, messages: [] };
  var busy = null; // {controller, message} while an answer streams
  var resolvedModel = null;
  var docCache = new Map();
  var refs = {}; // DOM elements
  var readerOrigin = null; // the element focused back when the reader closes
  var retryTimer = null;

  function load() {
    try {
      var raw = window.sessionStorage.getItem(storageKey);
      if (!raw) return;
      var saved = JSON.parse(raw);
      if (!saved || !Array.isArray(saved.messages)) return;
      state.open = Boolean(saved.open);
      state.messages = saved.messages.filter(function (m) {
        return m && (m.role === "user" || m.role === "assistant") && typeof m.content === "string";
      });
      state.messages.forEach(function (m) {
        if (m.role === "assistant" && (m.status === "pending" || m.status === "streaming")) {
          m.status = m.content ? "stopped" : "error";
          if (!m.content) m.error = { kind: "cut" };
        }
        if (m.error && m.error.kind === "rate") m.error.until = 0;
      });
    } catch (e) {
      state.messages = [];
    }
  }

  function save() {
    try {
      var messages = state.messages.slice(-MAX_STORED_MESSAGES);
      window.sessionStorage.setItem(storageKey, JSON.stringify({ open: state.open, messages: messages }));
    } catch (e) {
      /* storage full or disabled: the conversation just does not survive a reload */
    }
  }

  // ---- the DOM ----------------------------------------------------------------------------------------------

  function build() {
    var host = document.createElement("rag-chat-widget");
    host.setAttribute("data-rag-widget", "");
    var shadow = host.attachShadow({ mode: "open" });
    var sheet = null;
    try {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } catch (e) {
      shadow.append(h("style", { text: CSS })); // browsers without constructable stylesheets
    }

    var panelId = "rag-panel";
    var titleId = "rag-title";
    refs.launcherLabel = h("span", { text: T.launcher });
    refs.launcherIcon = h("span", { class: "launcher-icon" }, icon("chat"));
    refs.launcher = h(
      "button",
      {
        type: "button",
        class: "launcher",
        "aria-expanded": "false",
        "aria-controls": panelId,
        onclick: function () { setOpen(!state.open, true); },
      },
      refs.launcherIcon,
      refs.launcherLabel
    );

    refs.log = h("div", {
      class: "log",
      role: "log",
      "aria-live": "polite",
      "aria-relevant": "additions text",
      "aria-label": T.dialog,
      tabindex: "0",
    });
    refs.input = h("textarea", {
      id: "rag-input",
      rows: "1",
      maxlength: String(MAX_QUESTION_CHARS),
      placeholder: T.placeholder,
      "aria-describedby": "rag-hint",
      autocomplete: "off",
      enterkeyhint: "send",
    });
    refs.input.addEventListener("keydown", onInputKey);
    refs.input.addEventListener("input", function () {
      autoGrow();
      updateSend();
    });
    refs.send = h("button", { type: "button", class: "send", "aria-label": T.send, title: T.send, onclick: submit }, icon("send"));
    refs.stop = h(
      "button",
      { type: "button", class: "stop", "aria-label": T.stop, title: T.stop, hidden: true, onclick: stop },
      icon("stop")
    );
    refs.conversation = h(
      "div",
      { class: "view" },
      refs.log,
      h(
        "div",
        { class: "composer" },
        h("label", { class: "sr", for: "rag-input", text: T.inputLabel }),
        h("div", { class: "row" }, refs.input, refs.send, refs.stop),
        h("p", { class: "sr", id: "rag-hint", text: T.hint }),
        h("p", { class: "footer", text: T.footer })
      )
    );
    refs.reader = h("section", { class: "reader", hidden: true, "aria-labelledby": "rag-reader-title" });

    refs.panel = h(
      "div",
      { class: "panel", id: panelId, role: "dialog", "aria-modal": "false", "aria-labelledby": titleId, lang: lang, hidden: true },
      h(
        "div",
        { class: "head" },
        h(
          "div",
          { class: "head-text" },
          h("h2", { class: "title", id: titleId, text: config.title }),
          h("p", { class: "subtitle", text: T.subtitle })
        ),
        h(
          "button",
          { type: "button", class: "icon-btn new-chat", "aria-label": T.newChat, title: T.newChat, onclick: newConversation },
          icon("edit")
        ),
        h("button", { type: "button", class: "icon-btn close", "aria-label": T.close, title: T.close, onclick: function () { setOpen(false, true); } }, icon("close"))
      ),
      refs.conversation,
      refs.reader
    );
    refs.panel.addEventListener("keydown", onPanelKey);
    refs.launcher.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && state.open) {
        event.preventDefault();
        setOpen(false, true);
      }
    });

    var root = h("div", { class: "root", lang: lang }, refs.panel, refs.launcher);
    shadow.append(root);
    (document.body || document.documentElement).append(host);
    refs.host = host;
  }

  function autoGrow() {
    var input = refs.input;
    input.style.height = "44px";
    input.style.height = Math.min(140, Math.max(44, input.scrollHeight + 2)) + "px";
  }

  function updateSend() {
    var streaming = Boolean(busy);
    refs.send.hidden = streaming;
    refs.stop.hidden = !streaming;
    refs.send.disabled = !refs.input.value.trim();
  }

  function setOpen(open, moveFocus) {
    state.open = open;
    refs.panel.hidden = !open;
    refs.launcher.setAttribute("aria-expanded", String(open));
    refs.launcher.setAttribute("aria-label", open ? T.launcherOpen : T.launcher);
    refs.launcherLabel.hidden = open;
    refs.launcherIcon.replaceChildren(icon(open ? "down" : "chat"));
    save();
    if (open) {
      scrollToEnd(true);
      if (moveFocus) (refs.reader.hidden ? refs.input : refs.readerFocus || refs.input).focus();
    } else if (moveFocus) {
      refs.launcher.focus();
    }
  }

  function scrollToEnd(force) {
    var log = refs.log;
    if (force || log.scrollHeight - log.scrollTop - log.clientHeight < 80) log.scrollTop = log.scrollHeight;
  }

  /** Scroll the log so that `el` is visible: all of it when it fits, else its beginning. */
  function reveal(el) {
    var log = refs.log;
    var top = el.offsetTop;
    var bottom = top + el.offsetHeight;
    if (bottom - top + 16 <= log.clientHeight) log.scrollTop = Math.max(log.scrollTop, bottom + 16 - log.clientHeight);
    else log.scrollTop = top - 8;
  }

  function onInputKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  }

  function onPanelKey(event) {
    if (event.key !== "Escape") return;
    event.preventDefault();
    event.stopPropagation();
    if (!refs.reader.hidden) closeReader();
    else setOpen(false, true);
  }

  // ---- rendering --------------------------------------------------------------------------------------------

  function renderAll() {
    refs.log.replaceChildren();
    if (!state.messages.length) {
      refs.log.append(welcome());
      return;
    }
    state.messages.forEach(function (m) { refs.log.append(renderMessage(m)); });
  }

  function welcome() {
    var box = h("div", { class: "intro" }, h("p", { class: "welcome", text: T.welcome }));
    if (config.suggestions.length) {
      box.append(
        h(
          "div",
          { class: "examples" },
          h("p", { class: "examples-label", text: T.examples }),
          config.suggestions.map(function (q) {
            return h("button", { type: "button", class: "example", text: q, onclick: function () { ask(q); } });
          })
        )
      );
    }
    return box;
  }

  function renderMessage(m) {
    var el = m.role === "user" ? renderUser(m) : renderAssistant(m);
    el.setAttribute("data-id", m.id);
    return el;
  }

  function renderUser(m) {
    return h("div", { class: "msg user" }, h("span", { class: "who", text: T.you }), h("div", { class: "bubble", text: m.content }));
  }

  /** The answer text as nodes: Text nodes, <br> for line breaks, a chip for each [n] with a known citation. */
  function answerNodes(text, citations, pending) {
    var byN = new Map();
    (citations || []).forEach(function (c) { byN.set(c.n, c); });
    var nodes = [];
    String(text).split("\n").forEach(function (line, i) {
      if (i) nodes.push(h("br"));
      var last = 0;
      line.replace(MARKER, function (match, digits, offset) {
        if (offset > last) nodes.push(line.slice(last, offset));
        var n = Number(digits);
        var citation = byN.get(n);
        if (citation) {
          nodes.push(
            h("button", {
              type: "button",
              class: "cite",
              text: String(n),
              "aria-label": T.citeLabel(n, citation.title || citation.document_id),
              "data-n": String(n),
              onclick: function (event) { openReader(citation, "cited", event.currentTarget); },
            })
          );
        } else if (pending) {
          nodes.push(h("span", { class: "cite pending", text: String(n) }));
        } else {
          nodes.push(match);
        }
        last = offset + match.length;
        return match;
      });
      if (last < line.length) nodes.push(line.slice(last));
    });
    return nodes;
  }

  function formatDate(value) {
    if (!value) return "";
    var text = String(value);
    var day = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
    var month = /^(\d{4})-(\d{2})$/.exec(text);
    try {
      if (day) return format("day", new Date(Date.UTC(+day[1], +day[2] - 1, +day[3])));
      if (month) return format("month", new Date(Date.UTC(+month[1], +month[2] - 1, 1)));
    } catch (e) {
      /* not a date: shown as is */
    }
    return text;
  }

  function format(kind, date) {
    if (!dateFormats[kind]) {
      var options = kind === "day" ? { day: "numeric", month: "long", year: "numeric" } : { month: "long", year: "numeric" };
      options.timeZone = "UTC";
      dateFormats[kind] = new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "fr-FR", options);
    }
    return dateFormats[kind].format(date);
  }

  function dateNode(value) {
    return value ? h("time", { class: "ref-date", datetime: String(value), text: formatDate(value) }) : null;
  }

  function renderAssistant(m) {
    var classes = ["msg", "assistant"];
    if (m.status === "error") classes.push("error");
    else if (m.status === "done" && m.answerable === false) classes.push("not-found");
    var bubble = h("div", { class: "bubble" });
    var el = h("div", { class: classes.join(" "), "data-status": m.status }, h("span", { class: "who", text: T.assistant }), bubble);

    if (m.status === "error") {
      bubble.append(errorBlock(m));
      return el;
    }
    if (m.status === "pending") {
      bubble.append(h("span", { class: "typing" }, h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), T.searching));
      return el;
    }
    var notFound = m.status === "done" && m.answerable === false;
    if (notFound) {
      bubble.append(h("div", { class: "badge" }, icon("info"), h("span", { text: T.notFound })));
    }
    bubble.append(h("p", { class: "answer" }, answerNodes(m.content, m.status === "done" ? m.citations : [], m.status === "streaming")));
    if (notFound) bubble.append(h("p", { class: "help", text: T.notFoundHelp }));
    if (m.degraded) bubble.append(note("degraded", "alert", T.degraded));
    if (m.conflict) bubble.append(note("conflict", "alert", T.conflict));
    if (m.status === "stopped") bubble.append(note("stopped", "info", T.stopped));
    if (m.status === "done" && m.citations && m.citations.length) bubble.append(sourcesList(m.citations));
    if (notFound && m.see_also && m.see_also.length) bubble.append(seeAlsoList(m.see_also));
    return el;
  }

  function note(kind, iconName, text) {
    return h("p", { class: "note " + kind }, icon(iconName), h("span", { text: text }));
  }

  function sourcesList(citations) {
    var seen = new Set();
    var items = citations
      .filter(function (c) {
        if (seen.has(c.n)) return false;
        seen.add(c.n);
        return true;
      })
      .map(function (c) {
        var title = c.title || c.document_id;
        return h(
          "li",
          null,
          h(
            "button",
            {
              type: "button",
              class: "ref",
              "data-n": String(c.n),
              "aria-label": T.openSource(c.n, title),
              onclick: function (event) { openReader(c, "cited", event.currentTarget); },
            },
            h("span", { class: "ref-n", "aria-hidden": "true", text: String(c.n) }),
            h(
              "span",
              { class: "ref-body" },
              h("span", { class: "ref-title", text: title }),
              dateNode(c.published_at),
              placeNode(c),
              quoteNode(c)
            )
          ),
          originalLink(c, title)
        );
      });
    return h("div", { class: "refs" }, h("p", { class: "refs-title", text: T.sources }), h("ol", null, items));
  }

  /** "p. N" for a PDF citation, the section (the heading above it) for a DOCX one, as text. */
  function placeNode(c) {
    var page = pageOf(c);
    var parts = [];
    if (page) parts.push(T.page(page));
    if (typeof c.section === "string" && c.section) parts.push(c.section);
    return parts.length ? h("span", { class: "ref-page", text: parts.join(" · ") }) : null;
  }

  function pageOf(c) {
    var page = Number(c.page);
    return Number.isInteger(page) && page > 0 ? page : 0;
  }

  /** A PDF citation links to its original file, opened at its page (…/original#page=N). With an API key
   * (data-key) a plain link would be refused (it cannot carry the key): the file is fetched with the key and
   * shown from a blob: URL, in a tab opened at the click (so that no pop-up blocker stops it). */
  function originalLink(c, title) {
    var page = pageOf(c);
    if (!page || typeof c.document_id !== "string") return null;
    var url = config.api + "/v1/documents/" + encodeURIComponent(c.document_id) + "/original";
    return h("a", {
      class: "ref-original",
      href: url + "#page=" + page,
      target: "_blank",
      rel: "noopener noreferrer",
      "aria-label": T.openOriginal(page, title),
      text: T.page(page) + " ↗",
      onclick: function (event) {
        if (!config.key) return;
        event.preventDefault();
        openWithKey(url, page);
      },
    });
  }

  function openWithKey(url, page) {
    var tab = window.open("about:blank", "_blank");
    if (tab) tab.opener = null;
    fetch(url, { headers: { Authorization: "Bearer " + config.key } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.blob();
      })
      .then(function (blob) {
        var local = URL.createObjectURL(blob);
        if (tab) tab.location.href = local + "#page=" + page;
        setTimeout(function () { URL.revokeObjectURL(local); }, 60000);
      })
      .catch(function () {
        if (tab) tab.close();
      });
  }

  /** The citation's sentence with its short answer span marked, or the quote alone (text nodes only). */
  function quoteNode(c) {
    var ctx = typeof c.context === "string" ? c.context : null;
    var from = c.start - c.context_start;
    var to = c.end - c.context_start;
    if (ctx === null || !(from >= 0 && to <= ctx.length) || ctx.slice(from, to) !== c.quote || ctx === c.quote) {
      return h("span", { class: "ref-quote", text: "« " + c.quote + " »" });
    }
    return h(
      "span",
      { class: "ref-quote" },
      document.createTextNode("« " + ctx.slice(0, from)),
      h("mark", { class: "ref-span", text: c.quote }),
      document.createTextNode(ctx.slice(to) + " »")
    );
  }

  function seeAlsoList(passages) {
    var seen = new Set();
    var items = passages
      .filter(function (p) {
        if (seen.has(p.chunk_id)) return false;
        seen.add(p.chunk_id);
        return true;
      })
      .slice(0, 3)
      .map(function (p) {
        var title = p.title || p.document_id;
        var excerpt = String(p.text || "");
        if (excerpt.length > 240) excerpt = excerpt.slice(0, 240).replace(/\s+\S*$/, "") + "…";
        return h(
          "li",
          null,
          h(
            "button",
            {
              type: "button",
              class: "ref see-also",
              "aria-label": T.openNearby(title),
              onclick: function (event) { openReader(p, "nearby", event.currentTarget); },
            },
            h(
              "span",
              { class: "ref-body" },
              h("span", { class: "ref-title", text: title }),
              h("span", { class: "ref-quote", text: excerpt })
            )
          )
        );
      });
    return h("div", { class: "refs" }, h("p", { class: "refs-title", text: T.seeAlso }), h("ol", null, items));
  }

  function errorText(error) {
    switch (error.kind) {
      case "network":
        return T.errNetwork;
      case "rate":
        return T.errRate(error.retryAfter);
      case "busy":
        return T.errBusy;
      case "auth":
        return T.errAuth;
      case "cut":
        return T.errCut;
      case "gone":
        return T.errEmptyDoc;
      default:
        return T.errOther(error.message || String(error.status || "?"));
    }
  }

  function errorBlock(m) {
    var error = m.error || { kind: "network" };
    var box = h("div", { class: "error-box", role: "alert" }, h("p", { class: "error-text" }, icon("alert"), h("span", { text: errorText(error) })));
    if (m.content) box.prepend(h("p", { class: "answer" }, answerNodes(m.content, [], false)));
    if (error.kind !== "auth") {
      var button = h("button", { type: "button", class: "retry", text: T.retry, onclick: function () { retry(m); } });
      box.append(button);
      var until = error.until || 0;
      if (until > Date.now()) countdown(button, until);
    }
    return box;
  }

  function countdown(button, until) {
    clearInterval(retryTimer);
    var tick = function () {
      var left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0 || !button.isConnected) {
        clearInterval(retryTimer);
        button.disabled = false;
        button.textContent = T.retry;
        return;
      }
      button.disabled = true;
      button.textContent = T.retryIn(left);
    };
    tick();
    retryTimer = setInterval(tick, 1000);
  }

  function replace(m) {
    var old = refs.log.querySelector('[data-id="' + m.id + '"]');
    var fresh = renderMessage(m);
    if (old) old.replaceWith(fresh);
    else refs.log.append(fresh);
    return fresh;
  }

  // ---- asking -----------------------------------------------------------------------------------------------

  function headers(json) {
    var out = { Accept: json ? "application/json" : "text/event-stream" };
    if (!json) out["Content-Type"] = "application/json";
    if (config.key) out.Authorization = "Bearer " + config.key;
    return out;
  }

  function resolveModel() {
    if (config.model !== "auto") return Promise.resolve(config.model);
    if (resolvedModel) return Promise.resolve(resolvedModel);
    return fetch(config.api + "/v1/models", { headers: headers(true), credentials: "omit", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        var ids = body && Array.isArray(body.data) ? body.data.map(function (m) { return m.id; }) : [];
        var generative = ids.filter(function (id) { return id !== "rag-extractive"; });
        resolvedModel = generative[0] || "rag-extractive";
        return resolvedModel;
      })
      .catch(function () { return "rag-extractive"; });
  }

  function submit() {
    if (busy) return;
    var question = refs.input.value.trim();
    if (!question) return;
    refs.input.value = "";
    autoGrow();
    ask(question);
  }

  function conversationFor(upTo) {
    // The user/assistant pairs that got an answer, before the message `upTo`.
    var messages = [];
    for (var i = 0; i < state.messages.length && state.messages[i] !== upTo; i++) {
      var m = state.messages[i];
      var next = state.messages[i + 1];
      if (m.role === "user" && next && next.role === "assistant" && next !== upTo && next.content && next.status !== "error") {
        messages.push({ role: "user", content: m.content }, { role: "assistant", content: next.content });
      }
    }
    return messages;
  }

  function ask(question) {
    if (busy) return;
    question = String(question).trim().slice(0, MAX_QUESTION_CHARS);
    if (!question) return;
    if (!state.open) setOpen(true, false);
    if (!state.messages.length) refs.log.replaceChildren();
    var user = { id: uid(), role: "user", content: question };
    state.messages.push(user);
    refs.log.append(renderMessage(user));
    run(user, null);
  }

  function retry(failed) {
    if (busy) return;
    var index = state.messages.indexOf(failed);
    var user = state.messages[index - 1];
    if (index < 1 || !user || user.role !== "user") return;
    run(user, failed);
  }

  function run(user, previous) {
    var m = previous || { id: uid(), role: "assistant" };
    m.status = "pending";
    m.content = "";
    m.citations = [];
    m.see_also = [];
    m.error = null;
    m.answerable = true;
    m.degraded = false;
    m.conflict = false;
    if (!previous) state.messages.push(m);
    var messages = conversationFor(user).concat([{ role: "user", content: user.content }]);
    var controller = new AbortController();
    busy = { controller: controller, message: m };
    replace(m);
    refs.log.setAttribute("aria-busy", "true");
    updateSend();
    scrollToEnd(true);
    save();

    resolveModel()
      .then(function (model) {
        return fetch(config.api + "/v1/chat/completions", {
          method: "POST",
          headers: headers(false),
          body: JSON.stringify({ model: model, messages: messages, stream: true }),
          signal: controller.signal,
          credentials: "omit",
          cache: "no-store",
        });
      })
      .then(function (response) {
        if (!response.ok) return failure(response).then(function (error) { throw error; });
        return stream(response, m, controller);
      })
      .then(function () { finish(m, "done"); })
      .catch(function (error) {
        if (controller.signal.aborted && controller.signal.reason === "stop") {
          finish(m, m.content ? "stopped" : "stopped-empty");
          return;
        }
        m.error = error && error.kind ? error : { kind: controller.signal.aborted ? "cut" : "network" };
        if (m.error.kind === "rate" && m.error.retryAfter) m.error.until = Date.now() + m.error.retryAfter * 1000;
        finish(m, "error");
      });
  }

  function failure(response) {
    var retryAfter = parseInt(response.headers.get("Retry-After") || "", 10);
    return response
      .json()
      .catch(function () { return null; })
      .then(function (body) {
        var message = body && body.error && typeof body.error.message === "string" ? body.error.message : "";
        var status = response.status;
        if (status === 429) return { kind: "rate", status: status, retryAfter: isFinite(retryAfter) ? retryAfter : 0 };
        if (status === 503 || status === 502 || status === 504) return { kind: "busy", status: status };
        if (status === 401 || status === 403) return { kind: "auth", status: status };
        return { kind: "other", status: status, message: message.slice(0, 300) || "HTTP " + status };
      });
  }

  function stream(response, m, controller) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var data = [];
    var final = null;
    var done = false;
    var stall = null;

    function armStall() {
      clearTimeout(stall);
      stall = setTimeout(function () { controller.abort("stall"); }, STALL_MS);
    }

    function dispatch() {
      if (!data.length) return;
      var payload = data.join("\n");
      data = [];
      if (payload === "[DONE]") {
        done = true;
        return;
      }
      var chunk;
      try {
        chunk = JSON.parse(payload);
      } catch (e) {
        return; // not JSON: ignored
      }
      if (chunk.error) throw { kind: "other", message: String(chunk.error.message || "") };
      var choice = chunk.choices && chunk.choices[0];
      var delta = choice && choice.delta && choice.delta.content;
      if (typeof delta === "string" && delta) {
        m.content += delta;
        m.status = "streaming";
        showStreaming(m);
      }
      if (typeof chunk.answer === "string") final = chunk;
    }

    function line(text) {
      if (text === "") dispatch();
      else if (text.charAt(0) === ":") return; // keep-alive comment
      else if (text.slice(0, 5) === "data:") data.push(text.slice(5).replace(/^ /, ""));
    }

    function pump() {
      armStall();
      return reader.read().then(function (result) {
        if (result.done) {
          buffer += decoder.decode();
          if (buffer) line(buffer.replace(/\r$/, ""));
          line("");
          clearTimeout(stall);
          return;
        }
        buffer += decoder.decode(result.value, { stream: true });
        var parts = buffer.split(/\r\n|\r|\n/);
        buffer = parts.pop();
        parts.forEach(line);
        if (done) {
          clearTimeout(stall);
          reader.cancel().catch(function () {});
          return;
        }
        return pump();
      });
    }

    return pump()
      .catch(function (error) {
        clearTimeout(stall);
        throw error;
      })
      .then(function () {
        if (!final) throw { kind: "cut" };
        m.content = final.answer;
        m.citations = Array.isArray(final.citations) ? final.citations : [];
        m.see_also = Array.isArray(final.see_also) ? final.see_also : [];
        m.answerable = final.answerable !== false;
        m.degraded = Boolean(final.degraded);
        m.conflict = Boolean(final.conflict);
      });
  }

  var streamRender = null;
  function showStreaming(m) {
    // One paint per animation frame, however many deltas arrive in it.
    if (streamRender) return;
    streamRender = requestAnimationFrame(function () {
      streamRender = null;
      if (busy && busy.message === m) {
        replace(m);
        scrollToEnd(false);
      }
    });
  }

  function finish(m, status) {
    if (streamRender) {
      cancelAnimationFrame(streamRender);
      streamRender = null;
    }
    if (status === "stopped-empty") {
      // Stopped before any text: the question stays, without an answer.
      var index = state.messages.indexOf(m);
      if (index >= 0) state.messages.splice(index, 1);
      var el = refs.log.querySelector('[data-id="' + m.id + '"]');
      if (el) el.remove();
    } else {
      m.status = status;
      reveal(replace(m));
    }
    busy = null;
    refs.log.setAttribute("aria-busy", "false");
    updateSend();
    save();
  }

  function stop() {
    if (busy) busy.controller.abort("stop");
    refs.input.focus();
  }

  function newConversation() {
    if (busy) busy.controller.abort("stop");
    busy = null;
    state.messages = [];
    closeReader(true);
    renderAll();
    updateSend();
    refs.log.setAttribute("aria-busy", "false");
    save();
    refs.input.value = "";
    autoGrow();
    refs.input.focus();
  }

  // ---- the article reader -----------------------------------------------------------------------------------

  function fetchDocument(id) {
    if (docCache.has(id)) return docCache.get(id);
    var request = fetch(config.api + "/v1/documents/" + encodeURIComponent(id), {
      headers: headers(true),
      credentials: "omit",
      cache: "no-store",
    })
      .catch(function () { throw { kind: "network" }; })
      .then(function (response) {
        if (response.status === 404) throw { kind: "gone" };
        if (!response.ok) return failure(response).then(function (error) { throw error; });
        return response.json();
      });
    docCache.set(id, request);
    request.catch(function () { docCache.delete(id); });
    return request;
  }

  /** Open the passage `span` ({document_id, start, end, quote?, title, n?}) in its article, highlighted. */
  function openReader(span, kind, origin) {
    readerOrigin = origin || null;
    var title = h("h3", { class: "reader-title", id: "rag-reader-title", tabindex: "-1", text: span.title || span.document_id });
    var meta = h("p", { class: "reader-meta", text: kind === "cited" ? T.citedPassage(span.n) : T.nearPassage });
    var body = h("div", { class: "doc", tabindex: "0", role: "region", "aria-label": T.articleText }, h("p", { class: "doc-status", text: T.loadingDoc }));
    refs.reader.replaceChildren(
      h(
        "div",
        { class: "reader-head" },
        h("button", { type: "button", class: "back", onclick: function () { closeReader(); } }, icon("back"), h("span", { text: T.back })),
        title,
        meta
      ),
      body
    );
    refs.readerFocus = title;
    refs.conversation.hidden = true;
    refs.reader.hidden = false;
    title.focus();

    fetchDocument(span.document_id)
      .then(function (doc) {
        if (refs.readerFocus !== title) return; // another passage was opened meanwhile
        var text = typeof doc.text === "string" ? doc.text : "";
        var start = span.start;
        var end = span.end;
        var expected = typeof span.quote === "string" ? span.quote : null;
        var found = start >= 0 && end > start && end <= text.length && (expected === null || text.slice(start, end) === expected);
        if (!found && expected) {
          var at = text.indexOf(expected);
          if (at >= 0) {
            start = at;
            end = at + expected.length;
            found = true;
          }
        }
        title.textContent = doc.title || span.title || span.document_id;
        var published = doc.metadata && doc.metadata.published_at;
        if (published) meta.append(" · ", dateNode(published));
        body.replaceChildren();
        if (!found) {
          body.before(note("stopped doc-warning", "alert", T.docChanged));
          body.append(text);
          return;
        }
        var mark = h("mark", { text: text.slice(start, end) });
        body.append(text.slice(0, start), mark, text.slice(end));
        requestAnimationFrame(function () {
          body.scrollTop = Math.max(0, mark.offsetTop - body.clientHeight / 2 + mark.offsetHeight / 2);
        });
      })
      .catch(function (error) {
        if (refs.readerFocus !== title) return;
        var message = error && error.kind === "gone" ? T.errEmptyDoc : error && error.kind ? T.errDoc + " " + errorText(error) : T.errDoc;
        body.replaceChildren(h("p", { class: "doc-status bad", role: "alert", text: message }));
      });
  }

  function closeReader(silently) {
    if (refs.reader.hidden) return;
    refs.reader.hidden = true;
    refs.reader.replaceChildren();
    refs.readerFocus = null;
    refs.conversation.hidden = false;
    if (silently) return;
    var origin = readerOrigin;
    readerOrigin = null;
    if (origin && origin.isConnected) origin.focus();
    else refs.input.focus();
  }

  // ---- start ------------------------------------------------------------------------------------------------

  function start() {
    load();
    build();
    renderAll();
    updateSend();
    if (state.open || config.openOnLoad) setOpen(true, false);
    window.addEventListener("pagehide", save);
    window.RagWidget = {
      open: function () { setOpen(true, true); },
      close: function () { setOpen(false, false); },
      ask: function (question) { ask(question); },
      newConversation: newConversation,
    };
  }

  window.RagWidget = { pending: true };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start, { once: true });
  else start();
})();
