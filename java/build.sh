#!/usr/bin/env bash
# Builds the Fiji plugin jar without Maven: javac against ImageJ's ij.jar
# (Debian's libij-java), Java 8 bytecode (Fiji's bundled Java 8 and every
# later JRE run it). Output: java/build/Infocus_.jar, and the tests in
# java/build/test-classes when JUnit 4 is installed (Debian's junit4).
#   IJ_JAR=/path/to/ij.jar bash java/build.sh     # another ImageJ
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
IJ_JAR="${IJ_JAR:-/usr/share/java/ij.jar}"
JUNIT_JAR="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
OUT="$HERE/build"
[ -f "$IJ_JAR" ] || { echo "java/build.sh: error: $IJ_JAR not found (apt-get install libij-java, or set IJ_JAR)" >&2; exit 1; }
command -v javac >/dev/null || { echo "java/build.sh: error: javac not found (apt-get install default-jdk)" >&2; exit 1; }

# The version, once, from Cargo.toml: the jar refuses a library of another version.
version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)"

rm -rf "$OUT/classes" "$OUT/test-classes"
mkdir -p "$OUT/classes/infocus/fiji"
# --release 8: class files version 52, checked against Java 8's API.
javac --release 8 -Xlint:all -Xlint:-options -Werror -encoding UTF-8 \
    -cp "$IJ_JAR" -d "$OUT/classes" $(find "$HERE/src/main/java" -name '*.java' | sort)
cp "$HERE/src/main/resources/plugins.config" "$OUT/classes/"
echo "$version" > "$OUT/classes/infocus/fiji/version.txt"
rm -f "$OUT/Infocus_.jar"
(cd "$OUT/classes" && jar --create --file "$OUT/Infocus_.jar" --date=2000-01-01T00:00:00Z .) 2>/dev/null ||
    (cd "$OUT/classes" && jar cf "$OUT/Infocus_.jar" .)

tests="no JUnit: tests not built"
if [ -f "$JUNIT_JAR" ]; then
    mkdir -p "$OUT/test-classes"
    javac --release 8 -Xlint:all -Xlint:-options -encoding UTF-8 \
        -cp "$IJ_JAR:$JUNIT_JAR:$OUT/Infocus_.jar" -d "$OUT/test-classes" \
        $(find "$HERE/src/test/java" -name '*.java' | sort)
    tests="tests in java/build/test-classes"
fi
echo "java/build.sh: built java/build/Infocus_.jar (infocus $version, Java 8 bytecode, against $IJ_JAR); $tests"
