"""A DNS forwarder for tests that never answers for some domains: every UDP query with a label
that starts with PREFIX (stall.example, stall7.example, x.stall3.example for "stall") is dropped,
as for domains whose servers never answer; every other one is relayed to UPSTREAM and its answer
relayed back. Usage: stalling_forwarder.py PORT UPSTREAM_PORT PREFIX [STATS_FILE] (both ports on
127.0.0.1). Prints "ready" once listening; writes what it dropped and relayed to STATS_FILE after
every query."""
import select
import socket
import sys

port, upstream_port, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].lower()
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
            if any(label.startswith(prefix) for label in name.split(".")):
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
