"""A DNS forwarder for tests that never answers for one zone: every UDP query whose name is in
STALL_ZONE is dropped (as a domain whose servers never answer), every other one is relayed to
UPSTREAM and its answer relayed back. Usage: stalling_forwarder.py PORT UPSTREAM_PORT STALL_ZONE
(both on 127.0.0.1). Prints "ready" once listening; counts what it dropped and relayed in
STATS_FILE when given as a fourth argument, after every query."""
import select
import socket
import sys

port, upstream_port, zone = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].lower().rstrip(".")
stats_file = sys.argv[4] if len(sys.argv) > 4 else None


def qname(packet):
    labels, i = [], 12
    while i < len(packet) and packet[i]:
        n = packet[i]
        labels.append(packet[i + 1:i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    return ".".join(labels)


server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.1", port))
upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
upstream.connect(("127.0.0.1", upstream_port))
waiting = {}  # query id -> client address
dropped = relayed = 0
print("ready", flush=True)
while True:
    readable, _, _ = select.select([server, upstream], [], [])
    for s in readable:
        if s is server:
            packet, client = server.recvfrom(65535)
            name = qname(packet)
            if name == zone or name.endswith("." + zone):
                dropped += 1
            else:
                relayed += 1
                waiting[packet[:2]] = client
                upstream.send(packet)
        else:
            packet = upstream.recv(65535)
            client = waiting.pop(packet[:2], None)
            if client:
                server.sendto(packet, client)
        if stats_file:
            with open(stats_file, "w") as f:
                f.write(f"{dropped} {relayed}\n")
