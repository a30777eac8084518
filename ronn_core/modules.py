"""Session modules: wrappers around ``Session.run`` enabled per session (the brain modules)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, ClassVar

if TYPE_CHECKING:
    from ronn_core.session import Session


class SessionModule:
    """Wraps a session's run. Subclass, set ``name``, register via the ``ronn_modules`` hook.

    ``run(feeds, call_next)`` must return the outputs dict, usually ``call_next(feeds)``'s.
    ``config`` is the module's table from the session config (``[modules.NAME]``).
    """

    name: ClassVar[str] = ""
    plugin: ClassVar[str | None] = None

    def __init__(self, session: "Session", config: dict[str, Any]):
        self.session = session
        self.config = config

    def run(self, feeds: dict[str, Any], call_next: Callable[[dict], dict]) -> dict[str, Any]:
        return call_next(feeds)

    def learn(self, feeds: dict[str, Any], label: Any) -> Any:
        """Learn from labelled feedback (``Session.learn``); modules that do not learn ignore it.

        Return ``NotImplemented`` (the default) to say this module does not learn.
        """
        return NotImplemented

    def close(self) -> None:
        """Release resources and persist state; called by ``Session.close``."""
