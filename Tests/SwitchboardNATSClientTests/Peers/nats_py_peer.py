"""An independent NATS client (nats-py) for the Swift client's cross-check: it answers
requests on py.echo (payload upper-cased, the request's X-Swift header echoed back as
Seen-Header), and on a request to py.go publishes a message with headers to swift.in.
Usage: nats_py_peer.py PORT; prints "ready" once subscribed."""
import asyncio
import sys

import nats


async def main(port):
    nc = await nats.connect(f"nats://127.0.0.1:{port}")

    async def echo(msg):
        seen = (msg.headers or {}).get("X-Swift", "")
        await nc.publish(msg.reply, msg.data.upper(), headers={"Seen-Header": seen})

    async def go(msg):
        await nc.publish("swift.in", b"from python", headers={"X-Python": "1", "Nats-Msg-Id": "py-1"})
        await nc.flush()
        await nc.publish(msg.reply, b"sent")

    await nc.subscribe("py.echo", cb=echo)
    await nc.subscribe("py.go", cb=go)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.sleep(60)


asyncio.run(main(int(sys.argv[1])))
