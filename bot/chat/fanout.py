"""Deciding what each chat is owed, in the transaction that writes it to the outbox.

Three moments owe stories to chats:
- a new story is stored: every chat topic whose subscriptions and filters match it is owed it
  (instant chats get a message queued now; digest chats keep it waiting for their next digest);
- a digest time passes (or /digest): the waiting stories become one digest message;
- an admin confirms /push: recent matching stories each chat has not had yet, now.

Every path goes through ``storage.outbox.owe``, whose primary key makes a (chat, topic, story)
owed once, whatever restarts or repeated pushes happen. Matching itself is pure (``wants``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from bot.chat.digests import digest_due
from bot.chat.matching import matches_alert, passes_filters, text_words
from storage import chats as chat_queries
from storage import outbox
from storage.models import Chat, utcnow


@dataclass(frozen=True, slots=True)
class Audience:
    """One chat topic's wishes, gathered from its subscriptions and its chat's filters."""

    chat_id: int
    topic_id: int
    mode: str = "instant"
    all_feeds: bool = False
    feed_ids: frozenset[int] = frozenset()
    alerts: tuple[tuple[str, ...], ...] = ()
    required: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


def wants(audience: Audience, feed_ids: frozenset[int], words: frozenset[str]) -> bool:
    """Whether a story (its feeds and folded words) is for this audience."""
    matched = (
        audience.all_feeds
        or bool(audience.feed_ids & feed_ids)
        or any(matches_alert(alert, words) for alert in audience.alerts)
    )
    return matched and passes_filters(audience.required, audience.excluded, words)


@dataclass(slots=True)
class _Wishes:
    all_feeds: bool = False
    feeds: set[int] = field(default_factory=set)
    alerts: list[tuple[str, ...]] = field(default_factory=list)


def audiences(session: Session, channel_id: int | None = None) -> list[Audience]:
    """Every active chat topic with at least one subscription (and the channel, if any)."""
    chats = {c.id: c for c in _active_chats(session)}
    filters = chat_queries.all_filters(session)
    grouped: dict[tuple[int, int], _Wishes] = defaultdict(_Wishes)
    for sub in chat_queries.all_subscriptions(session):
        wishes = grouped[(sub.chat_id, sub.topic_id)]
        if sub.keywords:
            wishes.alerts.append(tuple(sub.keywords.split()))
        elif sub.feed_id is None:
            wishes.all_feeds = True
        else:
            wishes.feeds.add(sub.feed_id)
    found = []
    for (chat_id, topic_id), wishes in grouped.items():
        chat = chats.get(chat_id)
        if chat is None:
            continue
        words = filters.get(chat_id, [])
        found.append(
            Audience(
                chat_id=chat_id,
                topic_id=topic_id,
                mode=chat.mode,
                all_feeds=wishes.all_feeds,
                feed_ids=frozenset(wishes.feeds),
                alerts=tuple(wishes.alerts),
                required=tuple(f.word for f in words if f.required),
                excluded=tuple(f.word for f in words if not f.required),
            )
        )
    if channel_id is not None:
        # The channel gets every story, as soon as it is stored.
        found.append(Audience(chat_id=channel_id, topic_id=0, all_feeds=True))
    return found


def _active_chats(session: Session) -> list[Chat]:
    return list(session.exec(select(Chat).where(Chat.active == True)).all())  # noqa: E712


@dataclass(slots=True)
class FanoutResult:
    stories: int = 0
    owed: int = 0
    queued: int = 0  # outbox rows written


def announce_new_stories(
    session: Session,
    *,
    now: datetime | None = None,
    backlog: int = 5,
    channel_id: int | None = None,
    batch: int = 500,
) -> FanoutResult:
    """Match stories no chat has seen yet against every audience and owe them.

    An instant chat owed more than ``backlog`` stories at once (a feed that dumped 200 items)
    gets them merged into digest messages instead of one send each.
    """
    now = now or utcnow()
    result = FanoutResult()
    story_ids = outbox.unannounced_stories(session, batch)
    if not story_ids:
        return result
    facts = outbox.story_facts(session, story_ids)
    crowd = audiences(session, channel_id)
    pairs: list[tuple[int, int, int]] = []
    for fact in facts:
        words = text_words(fact.text)
        pairs.extend(
            (a.chat_id, a.topic_id, fact.id) for a in crowd if wants(a, fact.feed_ids, words)
        )
    added = outbox.owe(session, pairs)
    modes = {(a.chat_id, a.topic_id): a.mode for a in crowd}
    per_target: dict[tuple[int, int], list[int]] = defaultdict(list)
    for chat_id, topic_id, story_id in added:
        per_target[(chat_id, topic_id)].append(story_id)
    for (chat_id, topic_id), ids in per_target.items():
        if modes.get((chat_id, topic_id)) == "digest":
            continue  # waits for the chat's digest time
        result.queued += _queue_instant(session, chat_id, topic_id, ids, backlog)
    outbox.mark_announced(session, story_ids, now)
    result.stories, result.owed = len(story_ids), len(added)
    return result


def _queue_instant(
    session: Session, chat_id: int, topic_id: int, story_ids: Sequence[int], backlog: int
) -> int:
    if len(story_ids) > backlog:
        outbox.enqueue(
            session, chat_id, topic_id, "digest", {"stories": list(story_ids)}, story_ids
        )
        return 1
    for story_id in story_ids:
        outbox.enqueue(session, chat_id, topic_id, "brief", {"stories": [story_id]}, [story_id])
    return len(story_ids)


# -- digests ----------------------------------------------------------------------------------


def digest_now(session: Session, chat_id: int, topic_id: int = 0) -> int:
    """Bundle this chat topic's waiting stories into a digest now; the number of stories."""
    ids = outbox.waiting_stories(session, chat_id, topic_id)
    chat = chat_queries.get_chat(session, chat_id)
    if chat is not None:
        chat.last_digest_at = utcnow()
        session.add(chat)
    if not ids:
        return 0
    outbox.enqueue(session, chat_id, topic_id, "digest", {"stories": ids}, ids)
    return len(ids)


def run_digests(session: Session, *, now: datetime | None = None, backlog: int = 5) -> int:
    """The digest tick: chats whose digest time has passed get their waiting stories; chats
    that switched to instant get theirs at once. Returns how many outbox rows were written."""
    now = now or utcnow()
    queued = 0
    due: set[int] = set()
    for chat in _active_chats(session):
        if chat.mode != "digest":
            continue
        last = chat.last_digest_at or chat.created_at
        if digest_due(now, chat.digest_times, chat.timezone, last):
            due.add(chat.id)
            chat.last_digest_at = now  # also when nothing waits: the next digest is the next time
            session.add(chat)
    for chat_id, topic_id in outbox.chats_with_waiting(session):
        waiting = chat_queries.get_chat(session, chat_id)
        if waiting is None or not waiting.active:
            continue
        if waiting.mode == "digest" and chat_id not in due:
            continue
        ids = outbox.waiting_stories(session, chat_id, topic_id)
        if waiting.mode == "digest":
            outbox.enqueue(session, chat_id, topic_id, "digest", {"stories": ids}, ids)
            queued += 1
        else:
            queued += _queue_instant(session, chat_id, topic_id, ids, backlog)
    return queued


# -- admin push and broadcast -----------------------------------------------------------------


@dataclass(slots=True)
class PushPlan:
    """What a /push would send now: per (chat id, topic id), the story ids owed, newest first."""

    feed_id: int | None
    owed: dict[tuple[int, int], list[int]] = field(default_factory=dict)

    @property
    def chat_count(self) -> int:
        return len(self.owed)

    @property
    def story_ids(self) -> list[int]:
        """Every story in the plan once, in first-seen order across chats (for a preview)."""
        seen: dict[int, None] = {}
        for ids in self.owed.values():
            for story_id in ids:
                seen.setdefault(story_id, None)
        return list(seen)


def plan_push(
    session: Session,
    *,
    feed_id: int | None = None,
    per_chat: int = 10,
    candidates: int = 100,
    channel_id: int | None = None,
) -> PushPlan:
    """Stories each subscribed active chat would get from a push now: the newest stories
    matching its subscriptions and filters that it has not been sent yet (optionally one
    feed's only)."""
    story_ids = outbox.recent_story_ids(session, limit=candidates, feed_id=feed_id)
    plan = PushPlan(feed_id=feed_id)
    if not story_ids:
        return plan
    facts = outbox.story_facts(session, story_ids)
    words = {f.id: text_words(f.text) for f in facts}
    had = outbox.delivered_stories(session, story_ids)
    for audience in audiences(session, channel_id):
        target = (audience.chat_id, audience.topic_id)
        owed = [
            f.id
            for f in facts
            if (*target, f.id) not in had and wants(audience, f.feed_ids, words[f.id])
        ][:per_chat]
        if owed:
            plan.owed[target] = owed
    return plan


def enqueue_push(session: Session, plan: PushPlan) -> int:
    """Record the plan as owed (once per chat and story) and queue one digest-style message
    per chat; returns how many outbox rows were written."""
    rows = 0
    for (chat_id, topic_id), ids in plan.owed.items():
        added = {s for _, _, s in outbox.owe(session, [(chat_id, topic_id, i) for i in ids])}
        fresh = [i for i in ids if i in added]
        if fresh:
            outbox.enqueue(session, chat_id, topic_id, "push", {"stories": fresh}, fresh)
            rows += 1
    return rows


def enqueue_broadcast(session: Session, html_text: str) -> int:
    """Queue an admin's message (already-safe Telegram HTML) to every active chat; the count."""
    chat_ids = chat_queries.active_chat_ids(session)
    for chat_id in chat_ids:
        outbox.enqueue(session, chat_id, 0, "broadcast", {"html": html_text})
    return len(chat_ids)
