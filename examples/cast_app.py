"""A Cast app (a viewer such as 3D Slicer or OHIF): subscribes to a topic, binds its socket, prints every frame,
answers STATUS requests with a status-response, and can publish a patient-close. Standard library only.

    python3 examples/cast_app.py --topic demo
    python3 examples/cast_app.py --topic demo --close-patient p1     # publish once bound
"""

import argparse
import json
import uuid

from castbridge_ws import now, patient, post, subscribe


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hub", default="http://127.0.0.1:8080", help="the Cast hub: castbridge's embedded one")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--events", default="patient-open,patient-close,imagingstudy-open,status-request")
    parser.add_argument("--name", default="viewer", help="subscriber.name")
    parser.add_argument("--close-patient", help="publish patient-close for this patient id once bound")
    parser.add_argument("--count", type=int, default=0, help="exit after this many events and requests (0: run until stopped)")
    args = parser.parse_args()
    hub = args.hub.rstrip("/") + "/api/hub"

    socket = subscribe(hub, {
        "hub.topic": args.topic, "hub.events": args.events, "subscriber.name": args.name,
        "subscriber.actors": '["ID"]', "subscriber.product.name": "example viewer",
    })
    print("first frame:", json.dumps(socket.recv_json()), flush=True)  # {"type": "connection.established", …}

    if args.close_patient:
        envelope = {
            "timestamp": now(), "id": str(uuid.uuid4()), "subscriber.name": args.name,
            "event": {"hub.topic": args.topic, "hub.event": "patient-close", "context": patient(args.close_patient)},
        }
        status, body = post(hub, json.dumps(envelope).encode(), "application/json")
        print("published patient-close:", status, body, flush=True)

    seen = 0
    while args.count == 0 or seen < args.count:
        frame = socket.recv_json()
        if frame is None:
            print("the hub closed the socket", flush=True)
            return
        event = frame.get("event", {})
        name = event.get("hub.event", "")
        if not name:
            print("frame:", json.dumps(frame), flush=True)
            continue
        seen += 1
        print("event:", json.dumps(frame), flush=True)
        if name.lower() == "status-request":
            # The answer goes back on the socket: the same request id in context.id, and what this app shows.
            response = {
                "timestamp": now(), "id": str(uuid.uuid4()),
                "subscriber.name": args.name, "actor": "ID",
                "event": {"hub.topic": event.get("hub.topic", args.topic), "hub.event": "status-response",
                          "context": {"id": event.get("context", {}).get("id"),
                                      # An image display's STATUS, in the reference's shape (Docs/cast-wire.md).
                                      "data": {"source": "status", "product": "example viewer",
                                               "items": [{"key": "availability", "value": "online"}]}}},
            }
            socket.send_json(response)
            print("answered the STATUS request", event.get("context", {}).get("id"), flush=True)
    socket.close()


if __name__ == "__main__":
    main()
