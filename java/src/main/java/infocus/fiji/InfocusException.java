package infocus.fiji;

/**
 * A failure of the native library, with its kind (the C ABI's status, as a
 * word): "invalid", "io", "unsupported", "cancelled", "torch", "internal",
 * or "library" when the native library itself could not be loaded.
 */
public class InfocusException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final String kind;

    public InfocusException(String kind, String message) {
        super(message);
        this.kind = kind;
    }

    public String kind() {
        return kind;
    }

    public boolean isCancel() {
        return "cancelled".equals(kind);
    }

    /** The kind of a Java exception thrown by the native door (see src/fiji.rs). */
    static InfocusException of(Throwable t) {
        if (t instanceof InfocusException) return (InfocusException) t;
        String kind;
        if (t instanceof IllegalArgumentException) kind = "invalid";
        else if (t instanceof java.io.IOException) kind = "io";
        else if (t instanceof UnsupportedOperationException) kind = "unsupported";
        else if (t instanceof java.util.concurrent.CancellationException) kind = "cancelled";
        else if (t instanceof ArithmeticException) kind = "torch";
        else if (t instanceof LinkageError) kind = "library";
        else kind = "internal";
        String m = t.getMessage();
        InfocusException e = new InfocusException(kind, m == null ? t.toString() : m);
        e.initCause(t);
        return e;
    }
}
