"""Media: wire formats (`wire`), the transport bridge (`transport`) and the SFU's state (`sfu`).

Each package may import only those before it in that list: wire formats know nothing of
state or sockets, the transport knows nothing of the SFU, and the SFU reaches the network
only through the transport's narrow interface."""
