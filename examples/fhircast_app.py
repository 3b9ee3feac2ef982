"""A FHIRcast app (a reporting system, a PACS, a worklist): subscribes to a topic over WebSocket, prints and
acknowledges every event, and can publish a Patient-open. Standard library only.

    python3 examples/fhircast_app.py --topic demo
    python3 examples/fhircast_app.py --topic demo --open-patient p1      # publish once connected
"""

import argparse
import json
import uuid

from castbridge_ws import now, patient, post, subscribe


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hub", default="http://127.0.0.1:8080", help="castbridge's address")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--events", default="Patient-open,Patient-close,ImagingStudy-open,ImagingStudy-close,SyncError")
    parser.add_argument("--name", default="reporting-app", help="subscriber.name")
    parser.add_argument("--open-patient", help="publish Patient-open for this patient id once subscribed")
    parser.add_argument("--count", type=int, default=0, help="exit after this many events (0: run until stopped)")
    args = parser.parse_args()
    hub = args.hub.rstrip("/") + "/fhircast/STU3"

    socket = subscribe(hub, {"hub.topic": args.topic, "hub.events": args.events, "subscriber.name": args.name})
    print("confirmation:", json.dumps(socket.recv_json()), flush=True)

    if args.open_patient:
        event = {
            "timestamp": now(), "id": str(uuid.uuid4()),
            "event": {"hub.topic": args.topic, "hub.event": "Patient-open", "context": patient(args.open_patient)},
        }
        status, body = post(hub, json.dumps(event).encode(), "application/json")
        print("published Patient-open:", status, body, flush=True)

    seen = 0
    while args.count == 0 or seen < args.count:
        frame = socket.recv_json()
        if frame is None:
            print("the hub closed the socket", flush=True)
            return
        if "event" in frame:
            seen += 1
            print("event:", json.dumps(frame), flush=True)
            socket.send_json({"id": frame["id"], "status": 200})  # the ACK (FHIRcast STU3)
        else:
            print("frame:", json.dumps(frame), flush=True)
    socket.close()


if __name__ == "__main__":
    main()
