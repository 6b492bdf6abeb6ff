# Sourced by the benchmark scripts: the generated videos they share the making of.

# gop60_long_and_cut SIZE SECONDS LONG CUT_SECONDS CUT: LONG, a testsrc2 H.264 video of
# SIZE (WxH) at 30 fps with a keyframe every 60 frames, SECONDS long; CUT, its first
# CUT_SECONDS by stream copy (it starts on a keyframe: the same stream, not re-encoded).
# Each is made once (written to a .partial file, then renamed, so a killed run leaves none).
gop60_long_and_cut() {
    local size=$1 secs=$2 long=$3 cut_secs=$4 cut=$5
    mkdir -p "$(dirname "$long")" "$(dirname "$cut")"
    if [ ! -f "$long" ]; then
        ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=$size:rate=30" -t "$secs" \
            -c:v libx264 -preset superfast -pix_fmt yuv420p \
            -x264-params keyint=60:min-keyint=60:scenecut=0 "$long.partial.mp4"
        mv "$long.partial.mp4" "$long"
    fi
    if [ ! -f "$cut" ]; then
        ffmpeg -hide_banner -loglevel error -y -i "$long" -t "$cut_secs" -c copy "$cut.partial.mp4"
        mv "$cut.partial.mp4" "$cut"
    fi
}
