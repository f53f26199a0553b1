"""End-to-end encryption covers every simulcast layer, not only the one on the transceiver.

A simulcast camera sends its smaller layers on senders of their own (aiortc has one stream per
sender: `mosaic.rtc.aiortc_bridge.send_simulcast`). Were those senders not encrypting, a viewer
of thumbnails (the quarter layer) would be sent the picture in clear, through the server. Each
layer's sender is passed through the same frame encryption as the transceiver's
(`ClientMedia._prepare_sender`); a viewer, which drops whatever does not decrypt, then decodes
the quarter layer's frames and counts them decrypted."""

from __future__ import annotations

from mosaic.bots.mosaic_bot import THUMBNAIL_SIZE, MosaicBot
from mosaic.client import join
from mosaic.client.e2ee import new_link_secret
from tests.helpers.e2ee_clients import keyed_alike, keyed_link
from tests.helpers.participants import LOOPBACK
from tests.helpers.simulcast import decodes_at, tile


async def test_every_simulcast_layer_is_encrypted(server, host) -> None:  # type: ignore[no-untyped-def]
    meeting = await host.create_meeting(e2ee=True, waiting_room=False)
    link = keyed_link(meeting, new_link_secret())
    ann = await join(link, name="Ann", cookies=host.cookies, local_addresses=LOOPBACK)
    async with ann:
        await keyed_alike(ann)
        bot = MosaicBot(
            link, "bot0", cookies=host.cookies, local_addresses=LOOPBACK, simulcast=True
        )
        await bot.start()
        try:
            assert bot.participant is not None and bot.participant.id is not None
            await keyed_alike(ann, bot.participant)
            await ann.view(tile(bot.participant.id, *THUMBNAIL_SIZE))
            # Frames that did not decrypt never reach the decoder: the quarter layer's do.
            await decodes_at(ann, bot.participant.id, THUMBNAIL_SIZE[0])
            assert ann.e2ee is not None and ann.e2ee.decrypted.get(bot.participant.id, 0) >= 4
        finally:
            await bot.stop()
