// Progressive enhancement: the pages work without this script; with it, questions are answered in place.
// Data from the server is only ever put into the page as text nodes (never innerHTML).
"use strict";

(function () {
  const page = document.body.dataset.page;
  if (page === "ask") {
    initAskPage();
  } else if (page === "doc") {
    focusPassage();
  }

  function initAskPage() {
    const form = document.getElementById("ask-form");
    const input = document.getElementById("q");
    const button = document.getElementById("ask-button");
    const errorBox = document.getElementById("form-error");
    const results = document.getElementById("results");
    const idleLabel = button.textContent;
    let controller = null;
    let shown = new URLSearchParams(location.search).get("q") || "";

    history.replaceState({ q: shown }, "", location.href);

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      ask(input.value, true);
    });

    for (const link of document.querySelectorAll("a.example")) {
      link.addEventListener("click", (event) => {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
          return; // let the browser open it in a new tab
        }
        event.preventDefault();
        input.value = link.dataset.question;
        ask(input.value, true);
      });
    }

    // Feedback forms come with each answer, server-rendered or built below: one listener for all of them.
    results.addEventListener("submit", (event) => {
      const target = event.target;
      if (target instanceof HTMLFormElement && target.classList.contains("feedback")) {
        event.preventDefault();
        sendFeedback(target, event.submitter);
      }
    });

    window.addEventListener("popstate", () => {
      const q = new URLSearchParams(location.search).get("q") || "";
      if (q === shown) {
        return; // only the #fragment changed (a citation was followed)
      }
      input.value = q;
      if (q.trim()) {
        ask(q, false);
      } else {
        shown = "";
        showError("");
        results.replaceChildren();
        document.title = "文章问答";
      }
    });

    async function ask(raw, push) {
      const question = raw.trim();
      if (!question) {
        showError("请输入问题。");
        input.focus();
        return;
      }
      if (controller) {
        controller.abort(); // a newer question replaces the one still loading
      }
      const mine = new AbortController();
      controller = mine;
      setLoading(true);
      try {
        const response = await fetch("/api/ask", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ question: question, top_k: 5 }),
          signal: mine.signal,
        });
        const data = await response.json().catch(() => null);
        if (!response.ok) {
          const message = data && data.error ? data.error.message : "请求失败（HTTP " + response.status + "）";
          showError(message);
          results.replaceChildren();
          return;
        }
        showError("");
        results.replaceChildren(...buildResult(data));
        const repeated = raw === shown;
        shown = raw;
        document.title = question + " · 文章问答";
        if (push && !repeated) {
          history.pushState({ q: raw }, "", "/?" + new URLSearchParams({ q: raw }).toString());
        }
      } catch (error) {
        if (error.name !== "AbortError") {
          showError("无法连接服务器，请稍后再试。");
        }
      } finally {
        if (controller === mine) {
          controller = null;
          setLoading(false);
        }
      }
    }

    function setLoading(on) {
      form.classList.toggle("loading", on);
      results.classList.toggle("loading", on);
      results.setAttribute("aria-busy", on ? "true" : "false");
      button.disabled = on;
      button.textContent = on ? "查找中…" : idleLabel;
    }

    function showError(message) {
      errorBox.textContent = message;
      errorBox.hidden = !message;
      if (message) {
        input.setAttribute("aria-invalid", "true");
      } else {
        input.removeAttribute("aria-invalid");
      }
    }
  }

  async function sendFeedback(form, submitter) {
    if (!submitter || !submitter.value) {
      return; // Enter in the comment box: wait for a button
    }
    const status = form.querySelector(".feedback-status");
    const buttons = form.querySelectorAll("button");
    const comment = form.querySelector("textarea").value.trim();
    const body = { request_id: form.elements.request_id.value, helpful: submitter.value === "yes" };
    if (comment) {
      body.comment = comment;
    }
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const response = await fetch("/api/feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      const data = await response.json().catch(() => null);
      if (!response.ok) {
        throw new Error(data && data.error ? data.error.message : "HTTP " + response.status);
      }
      form.replaceChildren(el("p", { class: "feedback-status", role: "status" },
        body.helpful ? "谢谢反馈，很高兴帮上了忙。" : "谢谢反馈，我们会据此补充内容。"));
    } catch (error) {
      status.textContent = "反馈没有发送成功：" + error.message;
      status.classList.add("failed");
      status.hidden = false;
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  // The same markup as templates/_feedback.html.
  function feedbackForm(data) {
    return el("form", { class: "feedback", method: "post", action: "/feedback" },
      el("input", { type: "hidden", name: "request_id", value: data.request_id }),
      el("p", { class: "feedback-label", id: "feedback-label" }, data.answered ? "这个回答有帮助吗？" : "这个结果有帮助吗？"),
      el("details", { class: "feedback-more" },
        el("summary", {}, "补充说明（可选）"),
        el("label", { class: "visually-hidden", for: "feedback-comment" }, "补充说明"),
        el("textarea", { id: "feedback-comment", name: "comment", maxlength: "500", rows: "2",
          placeholder: "缺了什么内容？最多 500 字" })),
      el("div", { class: "feedback-buttons", role: "group", "aria-labelledby": "feedback-label" },
        el("button", { class: "feedback-yes", type: "submit", name: "helpful", value: "yes" }, "有帮助"),
        el("button", { class: "feedback-no", type: "submit", name: "helpful", value: "no" }, "没帮助")),
      el("p", { class: "feedback-status", role: "status", hidden: "" }));
  }

  // An abstention: the FAQ entries that came close ("你是不是想问"), or the plain notice.
  function unanswered(suggestions) {
    if (!suggestions.length) {
      return [el("p", { class: "no-answer" }, "语料中没有找到能回答这个问题的内容，所以这里不作回答。"),
        el("p", { class: "no-answer-hint" }, "下面列出最接近的段落，它们不一定回答了你的问题。")];
    }
    return [el("p", { class: "no-answer" }, "没有足够把握回答这个问题。"),
      el("div", { class: "suggestions" }, el("p", { class: "suggestions-title" }, "你是不是想问："),
        el("ul", { class: "suggestion-list" }, ...suggestions.map((s) =>
          el("li", {}, el("a", { class: "suggested-question", href: "/?q=" + encodeURIComponent(s.question) },
            s.question)))))];
  }

  // The same markup as templates/_result.html.
  function buildResult(data) {
    const answered = data.answered;
    const quotes = data.quotes || [];
    const faq = answered && data.matched_question;
    const answer = answered
      ? el("section", { class: faq ? "answer faq-answer" : "answer", "aria-labelledby": "answer-heading" },
        el("h2", { id: "answer-heading" }, faq ? "常见问题解答" : "回答"),
        ...(faq ? [el("p", { class: "matched-question" }, "匹配的问题：" + data.matched_question)] : []),
        el("p", { class: "answer-text" }, ...answerPieces(data.answer, data.sources, quotes)))
      : el("section", { class: "answer unanswered", "aria-labelledby": "answer-heading" },
        el("h2", { id: "answer-heading" }, "没有找到答案"), ...unanswered(data.suggestions || []));
    if (faq && quotes.length) {
      const entry = data.sources[quotes[0].n - 1];
      if (quotes[0].end < Array.from(entry.text.trimEnd()).length) {
        answer.append(el("p", { class: "faq-more" }, el("a", { href: docHref(entry) }, "阅读完整答案")));
      }
    }
    answer.append(el("p", { class: "took" }, "用时 " + data.took_ms + " 毫秒"));
    if (document.getElementById("results").dataset.feedback === "on") {
      answer.append(feedbackForm(data));
    }
    const nodes = [answer];
    const related = data.related_questions || [];
    if (related.length) {
      nodes.push(el("section", { class: "related", "aria-labelledby": "related-heading" },
        el("h2", { id: "related-heading" }, "相关问题"),
        el("ul", { class: "related-list" }, ...related.map((q) =>
          el("li", {}, el("a", { class: "related-question", href: "/?q=" + encodeURIComponent(q) }, q))))));
    }
    if (data.sources.length) {
      const list = el("ol", { class: "source-list" }, ...data.sources.map((s) => sourceCard(s, quotes)));
      nodes.push(el("section", { class: answered ? "sources" : "sources closest", "aria-labelledby": "sources-heading" },
        el("h2", { id: "sources-heading" }, answered ? "来源" : "最接近的段落"), list));
    }
    return nodes;
  }

  // The i-th [n] marker leads to the answer's i-th quoted sentence (quotes[i]) when that lies in source n.
  function answerPieces(answer, sources, quotes) {
    const numbers = new Set(sources.map((s) => s.n));
    const pieces = [];
    let pos = 0;
    let i = 0;
    for (const match of answer.matchAll(/\[(\d{1,3})\]/g)) {
      const n = Number(match[1]);
      const quote = i < quotes.length && quotes[i].n === n ? i + 1 : null;
      i += 1;
      if (!numbers.has(n)) {
        continue;
      }
      if (match.index > pos) {
        pieces.push(answer.slice(pos, match.index));
      }
      pieces.push(el("a", { class: "cite", href: quote ? "#quote-" + quote : "#source-" + n }, "[" + n + "]"));
      pos = match.index + match[0].length;
    }
    if (pos < answer.length) {
      pieces.push(answer.slice(pos));
    }
    return pieces;
  }

  function sourceCard(source, quotes) {
    const head = el("div", { class: "source-head" },
      el("span", { class: "source-n" }, String(source.n)),
      ...(source.kind === "faq" ? [el("span", { class: "source-kind" }, "常见问题")] : []),
      el("h3", { class: "source-title" }, source.title));
    if (source.date) {
      head.append(el("span", { class: "source-date" }, source.date));
    }
    return el("li", { class: "source", id: "source-" + source.n },
      head,
      el("p", { class: "passage" }, ...quotedPieces(source, quotes)),
      ...(source.matched_question ? [el("p", { class: "source-matched" }, "匹配的问题：" + source.matched_question)] : []),
      el("a", { class: "doc-link", href: docHref(source) }, "查看原文"));
  }

  // Runs inside and outside the quoted sentences of this source, each with its term highlights.
  function quotedPieces(source, quotes) {
    const chars = Array.from(source.text);
    const mine = quotes.map((q, i) => [i + 1, Math.max(0, q.start), Math.min(chars.length, q.end), q.n])
      .filter((q) => q[3] === source.n).sort((a, b) => a[1] - b[1]);
    const pieces = [];
    let pos = 0;
    const run = (start, end) => markedPieces(chars.slice(start, end).join(""),
      source.highlights.filter(([s, e]) => s < end && e > start).map(([s, e]) => [s - start, e - start]));
    for (const [number, start, end] of mine) {
      if (start < pos || start >= end) {
        continue;
      }
      if (start > pos) {
        pieces.push(...run(pos, start));
      }
      pieces.push(el("span", { class: "quote", id: "quote-" + number, tabindex: "-1", title: "回答引用的句子" },
        ...run(start, end)));
      pos = end;
    }
    if (pos < chars.length) {
      pieces.push(...run(pos, chars.length));
    }
    return pieces;
  }

  // Highlight offsets count code points (Python str indices), so slice by code point, not UTF-16 unit.
  function markedPieces(text, ranges) {
    const chars = Array.from(text);
    const pieces = [];
    let pos = 0;
    const sorted = ranges.map(([s, e]) => [Math.max(0, s), Math.min(chars.length, e)]).sort((a, b) => a[0] - b[0]);
    for (const [start, end] of sorted) {
      if (start < pos || start >= end) {
        continue;
      }
      if (start > pos) {
        pieces.push(chars.slice(pos, start).join(""));
      }
      pieces.push(el("mark", {}, chars.slice(start, end).join("")));
      pos = end;
    }
    if (pos < chars.length) {
      pieces.push(chars.slice(pos).join(""));
    }
    return pieces;
  }

  function docHref(source) {
    const path = source.doc_id.split("/").map(encodeURIComponent).join("/");
    const query = new URLSearchParams({ chunk: source.chunk_id, start: source.start, end: source.end });
    return "/doc/" + path + "?" + query.toString() + "#" + encodeURIComponent(source.chunk_id);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      node.setAttribute(name, value);
    }
    node.append(...children); // strings become text nodes
    return node;
  }

  function focusPassage() {
    const article = document.querySelector(".document[data-anchor]");
    const mark = article && document.getElementById(article.dataset.anchor);
    if (!mark) {
      return;
    }
    const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    mark.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "center" });
    mark.focus({ preventScroll: true });
  }
})();
