"""Voilà for the board: it listens only once its preheated kernel has rendered the board.

``python -m kit.widgets.serve NOTEBOOK [Voilà options]`` is what `kit board` becomes (see
:func:`kit.widgets.notebook.voila_command`). Voilà's preheated pool starts a kernel and runs
the notebook before anyone asks for it; plain Voilà, though, answers from its first second, so a
visitor arriving early still waits for the kernel. This server waits for the pool's rendering
first (at most ``BoardVoila.warm_timeout`` seconds), so that from the moment the port answers,
the page arrives rendered and the table shows without a kernel start.

It reads Voilà's pool (``VoilaKernelManager._pools``, Voilà 0.5); with no pool (preheating
off, or another Voilà) it listens at once, as Voilà does.
"""

from __future__ import annotations

import asyncio

import tornado.ioloop
from traitlets import Float
from voila.app import Voila


class BoardVoila(Voila):
    """Voilà that starts listening once the preheated kernels have rendered the notebook."""

    warm_timeout = Float(180.0, config=True, help="Seconds to wait for the preheated board before listening anyway.")

    def listen(self):
        if self._warm():
            super().listen()

    def _warm(self) -> bool:
        """Wait for the pool's rendering; False when stopped meanwhile (Ctrl-C or SIGTERM)."""
        pools = getattr(self.kernel_manager, "_pools", None)
        tasks = [t for pool in (pools or {}).values() for t in pool]
        if not tasks:
            return True
        self.ioloop = tornado.ioloop.IOLoop.current()  # Voilà's SIGTERM handler stops this loop

        async def rendered():
            for task in tasks:  # shielded: a timeout must not cancel the pool's own tasks
                content = await asyncio.shield(task)
                await asyncio.shield(content["task"])

        loop = asyncio.get_event_loop()
        waiting = loop.create_task(asyncio.wait_for(rendered(), self.warm_timeout))
        try:
            loop.run_until_complete(waiting)
        except KeyboardInterrupt:
            waiting.cancel()
        except Exception as exc:  # noqa: BLE001 - a slow or failed kernel: serve as plain Voilà would
            if waiting.done():
                self.log.warning("The preheated board is not ready (%r): serving anyway.", exc)
        else:
            self.log.info("The board is rendered in a preheated kernel.")
        if not waiting.done() or waiting.cancelled():  # Ctrl-C, or SIGTERM stopped the loop
            self.log.info("Stopped before the board was served.")
            self.stop()
            return False
        return True


main = BoardVoila.launch_instance

if __name__ == "__main__":
    main()
