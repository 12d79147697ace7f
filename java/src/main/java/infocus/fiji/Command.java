package infocus.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.macro.Interpreter;
import ij.plugin.PlugIn;
import java.awt.GraphicsEnvironment;

/**
 * What every infocus menu command shares: run in four steps (check the
 * image, show the dialog, read it back, execute), progress on ImageJ's bar
 * with Esc to cancel, and errors shown with IJ.error, or logged where no
 * dialog can be shown (batch mode, headless).
 */
abstract class Command implements PlugIn {
    /** The menu name, for messages. */
    abstract String name();

    /** Builds the dialog, reads it, executes; returns the images to show. */
    abstract ImagePlus[] runOn(ImagePlus imp) throws InterruptedException;

    @Override
    public final void run(String arg) {
        try {
            Native.load();
            ImagePlus imp = WindowManager.getCurrentImage();
            ImagePlus[] out = runOn(imp);
            if (out == null) return; // dialog cancelled
            for (ImagePlus r : out) r.show();
        } catch (InfocusException e) {
            if (e.isCancel()) {
                IJ.showStatus("infocus: " + name() + " cancelled");
                IJ.log("infocus: " + name() + ": cancelled");
            } else {
                error(name() + ": " + e.getMessage());
            }
        } catch (InterruptedException e) {
            IJ.showStatus("infocus: " + name() + " cancelled");
        } catch (Throwable t) {
            error(name() + ": " + InfocusException.of(t).getMessage());
        } finally {
            IJ.showProgress(1.0);
        }
    }

    /** An error: a dialog when one can be shown, else a line in the log (stdout in batch mode). */
    static void error(String message) {
        boolean noDialog = GraphicsEnvironment.isHeadless()
            || (IJ.getInstance() == null && Interpreter.isBatchMode());
        if (noDialog) IJ.log("infocus: error: " + message);
        else IJ.error("infocus", message);
    }

    /** Progress on ImageJ's bar and status line; Esc cancels. */
    static final class Bar implements Native.Progress {
        private final String what;
        private volatile boolean cancelled;

        Bar(String what) {
            this.what = what;
            IJ.resetEscape();
        }

        @Override
        public boolean report(long done, long total) {
            if (total > 0) IJ.showProgress((double) done / total);
            if (IJ.escapePressed()) cancelled = true;
            return !cancelled;
        }

        @Override
        public void epoch(int epoch, int epochs, double loss, double valIou) {
            IJ.showStatus(String.format("infocus %s: epoch %d/%d, loss %.4f, validation IoU %.3f (Esc cancels)",
                what, epoch, epochs, loss, valIou));
        }
    }
}
