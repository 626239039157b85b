def float32_of(text):
    """The float32 nearest the decimal `text` (ties to even), as nnspec parses a number, or None
    when `text` is not one (nnspec reads ASCII digits, a sign, a point, an exponent, inf, nan).
    Python's float() rounds to float64 first, which misses only when that lands exactly halfway
    between two float32 values: then the decimal itself decides."""
    if not text.isascii() or "_" in text:
        return None
    try:
        wide = float(text)
    except ValueError:
        return None
    try:
        single = struct.unpack("<f", struct.pack("<f", wide))[0]
    except OverflowError:
        return math.copysign(math.inf, wide)
    if single == wide or not math.isfinite(wide):
        return single
    # The float32 on the other side of `wide`: one step up or down in magnitude.
    bits = struct.unpack("<I", struct.pack("<f", single))[0]
    if single == 0.0:
        bits = 1 if wide > 0 else 0x80000001
    else:
        bits += 1 if (wide > single) == (single > 0) else -1
    other = struct.unpack("<f", struct.pack("<I", bits))[0]
    if not math.isfinite(other) or single + other != 2.0 * wide:
        return single
    exact = Fraction(text)
    if exact == Fraction(wide):
        return single
    return other if (exact > Fraction(wide)) == (other > single) else single
